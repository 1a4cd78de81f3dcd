// Command gitlab-standin is a stand-in for GitLab, not GitLab (internal/gitlabstandin): the Runner API, a REST API
// subset, git over HTTPS and pipelines from .gitlab-ci.yml, for the e2e where GitLab itself cannot run.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabstandin"
)

func main() {
	listen := flag.String("listen", ":443", "address to serve HTTPS on")
	cert := flag.String("tls-cert", "/etc/gitlab-standin/tls/tls.crt", "server certificate (PEM)")
	key := flag.String("tls-key", "/etc/gitlab-standin/tls/tls.key", "server key (PEM)")
	external := flag.String("external-url", "", "URL runners and jobs reach this server at (CI_SERVER_URL)")
	data := flag.String("data", "/tmp/gitlab-standin", "directory for the bare repositories")
	longPoll := flag.Duration("long-poll", 50*time.Second, "how long jobs/request is held when nothing changed (Workhorse's long poll)")
	stuck := flag.Duration("running-outdated", time.Hour, "drop a running job as stuck_or_timeout_failure after this long without an update from its runner (GitLab: 1h, fixed)")
	flag.Parse()
	token := os.Getenv("GITLAB_STANDIN_ADMIN_TOKEN")
	logger := log.New(os.Stdout, "", log.LstdFlags|log.Lmicroseconds)
	srv, err := gitlabstandin.New(gitlabstandin.Config{ExternalURL: *external, AdminToken: token, DataDir: *data, LongPoll: *longPoll, RunningOutdated: *stuck, Log: logger.Printf})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger.Printf("GitLab stand-in (not GitLab) serving %s on %s; running jobs without updates for %s are dropped as stuck", *external, *listen, *stuck)
	go srv.SweepStuck(context.Background(), 5*time.Second)
	hs := &http.Server{Addr: *listen, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if err := hs.ListenAndServeTLS(*cert, *key); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
