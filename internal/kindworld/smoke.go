package kindworld

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/nodes"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// NetcheckImage is the probe image of the e2e tiers (tools/netcheck), built from this repository.
const NetcheckImage = "gkt.local/netcheck:v1"

// EnsureNetcheck builds tools/netcheck into an image and loads it into the cluster's nodes when missing.
func (w World) EnsureNetcheck(repoRoot string) error {
	if nodeHasImage(w.Name+"-worker", NetcheckImage) {
		return nil
	}
	if err := os.MkdirAll(w.Cache, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(w.Cache, "netcheck-") // private: another process may build it at the same time
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "netcheck"), "./tools/netcheck")
	cmd.Dir, cmd.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building netcheck: %v %s", err, out)
	}
	archive := filepath.Join(dir, "netcheck.tar")
	if err := WriteArchive(archive, []ImageSpec{{Ref: NetcheckImage, Files: map[string]string{"/netcheck": filepath.Join(dir, "netcheck")}, Entrypoint: []string{"/netcheck"}}}); err != nil {
		return err
	}
	return LoadImages(w.Name, archive, w.Log)
}

// SmokeResult is what `make e2e-smoke` reports.
type SmokeResult struct {
	Nodes                        int
	DNS, NetpolDeny, NetpolAllow bool
	// UserNamespaces counts the nodes whose kubelet reports user-namespace support for the default runtime handler.
	UserNamespaces int
}

// Line is the summary line.
func (r SmokeResult) Line() string {
	ok := func(b bool) string {
		if b {
			return "ok"
		}
		return "FAIL"
	}
	return fmt.Sprintf("smoke: nodes=%d dns=%s netpol-deny=%s netpol-allow=%s userns=%d/%d", r.Nodes, ok(r.DNS), ok(r.NetpolDeny), ok(r.NetpolAllow), r.UserNamespaces, r.Nodes)
}

// Smoke proves the cluster is usable for the e2e: nodes Ready, a pod on each worker, DNS across nodes, and
// NetworkPolicy really enforced (a default deny blocks what worked, an allow rule reopens exactly that path), and
// every kubelet reporting user-namespace support (the chart's job pods use hostUsers: false).
func Smoke(ctx context.Context, cs kubernetes.Interface, clusterName string, log Progress) (SmokeResult, error) {
	var res SmokeResult
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, err
	}
	var workers []string
	for _, n := range list.Items {
		if condTrue(n.Status.Conditions, corev1.NodeReady) {
			res.Nodes++
		}
		if ok, why := nodes.SupportsUserNamespaces(&n); ok {
			res.UserNamespaces++
		} else {
			log("smoke: node %s: %s", n.Name, why)
		}
		if _, cp := n.Labels["node-role.kubernetes.io/control-plane"]; !cp {
			workers = append(workers, n.Name)
		}
	}
	if res.UserNamespaces != len(list.Items) {
		return res, fmt.Errorf("%d of %d kubelets report user-namespace support: the node image's runtime (containerd %s, runc %s) should", res.UserNamespaces, len(list.Items), versions.Containerd, versions.Runc)
	}
	if res.Nodes != len(list.Items) || len(workers) < 2 {
		return res, fmt.Errorf("want every node Ready and at least 2 workers, got %d/%d ready, workers %v", res.Nodes, len(list.Items), workers)
	}
	ns := fmt.Sprintf("smoke-%d", time.Now().Unix())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	defer func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) }()
	tolerate := []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	pod := func(name, node string, labels map[string]string, args ...string) *corev1.Pod {
		no := false
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{NodeName: node, Tolerations: tolerate, RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: &no,
				Containers: []corev1.Container{{Name: "c", Image: NetcheckImage, ImagePullPolicy: corev1.PullNever, Args: args}}},
		}
	}
	server := pod("server", workers[1], map[string]string{"app": "server"}, "serve", ":8080")
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "server", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "server"}, Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	if err := waitPod(ctx, cs, ns, "server", corev1.PodRunning, 2*time.Minute); err != nil {
		return res, fmt.Errorf("server pod on %s: %w", workers[1], err)
	}
	url := "http://server." + ns + ".svc.cluster.local:8080/"
	n := 0
	probe := func(labels map[string]string, args ...string) (bool, error) {
		n++
		name := fmt.Sprintf("probe-%d", n)
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod(name, workers[0], labels, args...), metav1.CreateOptions{}); err != nil {
			return false, err
		}
		var phase corev1.PodPhase
		err := wait.For(ctx, fmt.Sprintf("probe %v to finish", args), time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			phase = p.Status.Phase
			return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
		})
		return phase == corev1.PodSucceeded, err
	}
	client := map[string]string{"role": "client"}
	other := map[string]string{"role": "other"}
	if res.DNS, err = probe(client, "resolve", "server."+ns+".svc.cluster.local"); err != nil {
		return res, err
	}
	log("smoke: DNS across nodes (%s → %s): %t", workers[0], workers[1], res.DNS)
	open, err := probe(client, "get", url, "5s")
	if err != nil {
		return res, err
	}
	if !open {
		return res, fmt.Errorf("without any policy the client on %s cannot reach the server on %s: the probe itself is broken", workers[0], workers[1])
	}
	deny := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, deny, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	// Cilium enforces a new policy within seconds: probe until the connection is blocked, at most a minute (a deny
	// that never takes effect ends the wait and is reported as not blocking)
	err = wait.For(ctx, "the default deny to block client → server", 3*time.Second, time.Minute, func(context.Context) (bool, error) {
		open, err := probe(client, "get", url, "5s")
		return !open, err
	})
	if err != nil && !errors.Is(err, wait.ErrTimeout) {
		return res, err
	}
	res.NetpolDeny = err == nil
	log("smoke: default deny blocks the cross-node connection: %t", res.NetpolDeny)
	port := intstr.FromInt32(8080)
	allow := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-client", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: client}}}, Ports: []networkingv1.NetworkPolicyPort{{Port: &port}}}}}}
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, allow, metav1.CreateOptions{}); err != nil {
		return res, err
	}
	reopened := false
	err = wait.For(ctx, "the allow rule to reopen client → server", 3*time.Second, time.Minute, func(context.Context) (bool, error) {
		var err error
		reopened, err = probe(client, "get", url, "5s")
		return reopened, err
	})
	if err != nil && !errors.Is(err, wait.ErrTimeout) {
		return res, err
	}
	stillBlocked, err := probe(other, "get", url, "5s")
	if err != nil {
		return res, err
	}
	res.NetpolAllow = reopened && !stillBlocked
	log("smoke: allow rule reopens exactly client → server: reopened=%t, other still blocked=%t", reopened, !stillBlocked)
	return res, nil
}

func waitPod(ctx context.Context, cs kubernetes.Interface, ns, name string, phase corev1.PodPhase, timeout time.Duration) error {
	return wait.For(ctx, fmt.Sprintf("pod %s/%s %s", ns, name, phase), time.Second, timeout, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, wait.Retry(err)
		}
		return p.Status.Phase == phase, nil
	})
}
