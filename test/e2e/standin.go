//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabclient"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/gitlabstandin"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// The GitLab stand-in in the cluster: namespace gitlab-standin, HTTPS on 443 under a private CA, NodePort 30443 for
// the test's own REST calls.
const (
	standinNamespace = "gitlab-standin"
	standinURL       = "https://gitlab-standin.gitlab-standin.svc.cluster.local"
	standinNodePort  = 30443
)

// forge is the GitLab the runner tier talks to: a real one (GITLAB_URL, GITLAB_TOKEN) or the stand-in. Tests see
// only the client and, for the tenant chart, where GitLab is.
type forge struct {
	api *gitlabclient.Client
	// URL is what the runners and jobs use (gitlab.url); CA, when set, is the private CA they must trust
	// (gitlab.caSecret); Egress are the NetworkPolicy peers of GitLab (gitlab.egress.to) and Ports its ports.
	URL    string
	CA     []byte
	Egress []any
	Ports  []any
	// Standin is true for the stand-in: it says so in the summary.
	Standin bool
	// admin drives the stand-in's own knobs (nil for a real GitLab).
	admin *standinAdmin
}

// realGitLab returns the GitLab of GITLAB_URL/GITLAB_TOKEN, nil when neither is set, or an error for half a
// configuration (a mistake, not an opt-out).
func realGitLab() (*forge, error) {
	base, token := os.Getenv("GITLAB_URL"), os.Getenv("GITLAB_TOKEN")
	switch {
	case base == "" && token == "":
		return nil, nil
	case base == "" || token == "":
		return nil, fmt.Errorf("runner tier: GITLAB_URL and GITLAB_TOKEN must be set together")
	}
	api, err := gitlabclient.New(base, token, nil)
	if err != nil {
		return nil, err
	}
	cidr := os.Getenv("GITLAB_EGRESS_CIDR")
	if cidr == "" {
		cidr = "0.0.0.0/0"
	}
	return &forge{api: api, URL: base, Egress: []any{map[string]any{"ipBlock": map[string]any{"cidr": cidr}}}, Ports: []any{443}}, nil
}

// deployStandin runs the stand-in in the cluster (image loaded by LoadRunnerTier) and returns the forge on it.
func deployStandin(ctx context.Context, cs kubernetes.Interface, nodeIP string) (*forge, error) {
	files, err := gitlabstandin.NewTLS("gitlab-standin.gitlab-standin.svc.cluster.local", "gitlab-standin.gitlab-standin.svc", nodeIP)
	if err != nil {
		return nil, err
	}
	token := "glpat-" + fmt.Sprint(time.Now().UnixNano()) + "-e2e-admin"
	if err := ensureNamespace(ctx, cs, standinNamespace, nil); err != nil {
		return nil, err
	}
	// New CA and token every run: replace the Secret and restart the stand-in (it keeps no state).
	_ = cs.CoreV1().Secrets(standinNamespace).Delete(ctx, "gitlab-standin", metav1.DeleteOptions{})
	if _, err := cs.CoreV1().Secrets(standinNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitlab-standin"},
		Data: map[string][]byte{"tls.crt": files.Cert, "tls.key": files.Key, "admin-token": []byte(token)}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	labels := map[string]string{"app": "gitlab-standin"}
	c := corev1.Container{Name: "gitlab-standin", Image: kindworld.GitLabStandinImage, ImagePullPolicy: corev1.PullNever,
		Args: []string{"--listen", ":443", "--external-url", standinURL},
		Env: []corev1.EnvVar{{Name: "GITLAB_STANDIN_ADMIN_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "gitlab-standin"}, Key: "admin-token"}}}},
		Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: 443}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/-/standin/health", Port: intstr.FromInt32(443), Scheme: corev1.URISchemeHTTPS}}, PeriodSeconds: 2},
		VolumeMounts:   []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/gitlab-standin/tls", ReadOnly: true}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr(int64(kindworld.RunnerUID)), RunAsNonRoot: ptr(true), AllowPrivilegeEscalation: ptr(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	d := deployment(standinNamespace, "gitlab-standin", labels, c, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "gitlab-standin", Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}}}}})
	// binding 443 as non-root: a namespaced, safe sysctl
	d.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}}
	d.Spec.Template.Annotations = map[string]string{"gitlab-kaniko-tenant.io/token-hash": shortHash(token)}
	if _, err := cs.AppsV1().Deployments(standinNamespace).Get(ctx, d.Name, metav1.GetOptions{}); err == nil {
		if _, err := cs.AppsV1().Deployments(standinNamespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
	} else if _, err := cs.AppsV1().Deployments(standinNamespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "gitlab-standin", Namespace: standinNamespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(443), NodePort: standinNodePort}}}}
	// (the API server checks the node port before the name: look the Service up first)
	if _, err := cs.CoreV1().Services(standinNamespace).Get(ctx, svc.Name, metav1.GetOptions{}); err != nil {
		if _, err := cs.CoreV1().Services(standinNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	if err := waitDeployment(ctx, cs, standinNamespace, "gitlab-standin", 3*time.Minute); err != nil {
		return nil, fmt.Errorf("gitlab stand-in: %w", err)
	}
	api, err := gitlabclient.New(fmt.Sprintf("https://%s:%d", nodeIP, standinNodePort), token, files.CA)
	if err != nil {
		return nil, err
	}
	// the rollout may still route to the old pod (old token) for a moment
	if err := wait.For(ctx, "the gitlab stand-in to accept this run's token", time.Second, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := api.CreateProject(ctx, "probe-"+fmt.Sprint(time.Now().UnixNano()))
		return err == nil, wait.Retry(err)
	}); err != nil {
		return nil, err
	}
	admin, err := newStandinAdmin(fmt.Sprintf("https://%s:%d", nodeIP, standinNodePort), token, files.CA)
	if err != nil {
		return nil, err
	}
	return &forge{api: api, URL: standinURL, CA: files.CA, Standin: true, admin: admin,
		Egress: []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": standinNamespace}}}},
		Ports:  []any{443}}, nil
}
