package gitlabstandin

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// CommitAction is one file change of POST /projects/:id/repository/commits.
type CommitAction struct {
	Action   string `json:"action"` // create, update, delete
	FilePath string `json:"file_path"`
	Content  string `json:"content,omitempty"`
}

// gitEnv fixes the identity and keeps the host's git configuration out.
var gitEnv = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=gitlab-kaniko-tenant e2e", "GIT_AUTHOR_EMAIL=e2e@standin.invalid",
	"GIT_COMMITTER_NAME=GitLab stand-in", "GIT_COMMITTER_EMAIL=standin@standin.invalid", "HOME=/nonexistent"}

func gitCmd(dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), gitEnv...), extraEnv...)
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(string(out)), nil
}

func initBare(repo, branch string) error {
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return err
	}
	if _, err := gitCmd(repo, nil, "init", "--bare", "--quiet", "--initial-branch="+branch, "."); err != nil {
		return err
	}
	_, err := gitCmd(repo, nil, "config", "http.receivepack", "true")
	return err
}

// commit applies actions on top of branch (or as its first commit) and returns the previous and new commit.
func commit(repo, branch, message string, actions []CommitAction) (before, sha string, err error) {
	if message == "" {
		return "", "", fmt.Errorf("commit_message is required")
	}
	if len(actions) == 0 {
		return "", "", fmt.Errorf("actions: at least one is required")
	}
	work, err := os.MkdirTemp("", "standin-commit-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	index := []string{"GIT_INDEX_FILE=" + filepath.Join(work, ".index")}
	tree := filepath.Join(work, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return "", "", err
	}
	git := func(args ...string) (string, error) {
		return gitCmd(repo, index, append([]string{"--git-dir=" + repo, "--work-tree=" + tree}, args...)...)
	}
	before, _ = gitCmd(repo, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if before != "" {
		if _, err := git("read-tree", before); err != nil {
			return "", "", err
		}
		if _, err := git("checkout-index", "-a"); err != nil {
			return "", "", err
		}
	}
	for _, a := range actions {
		rel := path.Clean("/" + a.FilePath)[1:]
		if rel == "" || rel == ".git" || strings.HasPrefix(rel, ".git/") {
			return "", "", fmt.Errorf("file_path %q is not a file of the repository", a.FilePath)
		}
		dst := filepath.Join(tree, filepath.FromSlash(rel))
		_, statErr := os.Stat(dst)
		switch a.Action {
		case "create", "update":
			if a.Action == "create" && statErr == nil {
				return "", "", fmt.Errorf("a file with this name already exists: %s", a.FilePath)
			}
			if a.Action == "update" && statErr != nil {
				return "", "", fmt.Errorf("a file with this name doesn't exist: %s", a.FilePath)
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return "", "", err
			}
			mode := os.FileMode(0o644)
			if strings.HasSuffix(rel, ".sh") {
				mode = 0o755
			}
			if err := os.WriteFile(dst, []byte(a.Content), mode); err != nil {
				return "", "", err
			}
		case "delete":
			if statErr != nil {
				return "", "", fmt.Errorf("a file with this name doesn't exist: %s", a.FilePath)
			}
			if err := os.Remove(dst); err != nil {
				return "", "", err
			}
		default:
			return "", "", fmt.Errorf("action %q: this GitLab stand-in supports create, update and delete", a.Action)
		}
	}
	if _, err := git("add", "-A", "."); err != nil {
		return "", "", err
	}
	treeID, err := git("write-tree")
	if err != nil {
		return "", "", err
	}
	args := []string{"commit-tree", treeID, "-m", message}
	if before != "" {
		args = append(args, "-p", before)
	}
	if sha, err = git(args...); err != nil {
		return "", "", err
	}
	if _, err := gitCmd(repo, nil, "update-ref", "refs/heads/"+branch, sha, before); err != nil {
		return "", "", err
	}
	if before == "" {
		before = strings.Repeat("0", 40)
	}
	return before, sha, nil
}

func showFile(repo, sha, file string) ([]byte, error) {
	out, err := gitCmd(repo, nil, "show", sha+":"+file)
	if err != nil {
		return nil, fmt.Errorf("%s is not in commit %s", file, sha[:8])
	}
	return []byte(out + "\n"), nil
}

func updateRef(repo, ref, sha string) error {
	_, err := gitCmd(repo, nil, "update-ref", ref, sha)
	return err
}

// git serves the repositories over git smart HTTP with git http-backend. A job clones with user gitlab-ci-token and
// its job token while it runs (only its own project, fetch only); the admin token may push.
func (s *Server) git(w http.ResponseWriter, r *http.Request) {
	repoPath, _, ok := strings.Cut(r.URL.Path, ".git/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	repoPath = strings.TrimPrefix(repoPath, "/")
	s.mu.Lock()
	var p *project
	for _, pr := range s.projects {
		if pr.Path == repoPath {
			p = pr
		}
	}
	user, pass, hasAuth := r.BasicAuth()
	allowed, push := false, false
	if p != nil && hasAuth {
		if subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.AdminToken)) == 1 {
			allowed, push = true, true
		} else if user == "gitlab-ci-token" {
			for _, j := range s.jobs {
				if j.Status == StatusRunning && j.Pipeline.Project == p && subtle.ConstantTimeCompare([]byte(pass), []byte(j.Token)) == 1 {
					allowed = true
				}
			}
		}
	}
	s.mu.Unlock()
	if p == nil || !allowed {
		// GitLab answers 401 with a Basic challenge for private projects (and for unknown ones, not to reveal them).
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
		return
	}
	if !push && (strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack") {
		http.Error(w, "You are not allowed to push code to this project.", http.StatusForbidden)
		return
	}
	backend, err := gitHTTPBackend()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := &cgi.Handler{Path: backend, Env: append([]string{"GIT_PROJECT_ROOT=" + filepath.Join(s.cfg.DataDir, "repos"), "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + user}, gitEnv...)}
	h.ServeHTTP(w, r)
}

func gitHTTPBackend() (string, error) {
	execPath, err := gitCmd("/", nil, "--exec-path")
	if err != nil {
		return "", err
	}
	return filepath.Join(execPath, "git-http-backend"), nil
}
