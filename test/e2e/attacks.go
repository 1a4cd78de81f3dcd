//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/jobpod"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

func shortHash(s string) string {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}

// jobLabels are the labels the tenant chart gives a tenant's job pods (what its NetworkPolicies select).
func jobLabels(tn tenants.Tenant) map[string]string {
	return map[string]string{"gitlab-kaniko-tenant.io/tenant": tn.Name, "gitlab-kaniko-tenant.io/component": "job", "app.kubernetes.io/part-of": "gitlab-kaniko-tenant", "app.kubernetes.io/instance": tn.Name}
}

// Attack is one live isolation attack with its control: the same probe where the guard does not apply must work,
// or the attack proves nothing.
type Attack struct {
	Name               string
	Blocked, ControlOK bool
	Detail             string
}

// probe runs netcheck (or a shell command in the Kaniko image) in a pod and reports whether it exited 0.
func probe(ctx context.Context, cs kubernetes.Interface, ns string, labels map[string]string, node string, image string, args ...string) (bool, string, error) {
	no := false
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: &no, NodeName: node,
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers:  []corev1.Container{{Name: "c", Image: image, ImagePullPolicy: corev1.PullNever, Args: args, Resources: smallResources}}}}
	if image != kindworld.NetcheckImage {
		pod.Spec.Containers[0].Command, pod.Spec.Containers[0].Args = args, nil
	}
	res, err := runProbe(ctx, cs, cs, pod)
	if err == nil && res.Refused != "" {
		err = fmt.Errorf("probe %v: %s", args, res.Refused)
	}
	return res.OK, res.Log, err
}

// probeResult is how a probe pod ended.
type probeResult struct {
	OK      bool   // the container exited 0
	Log     string // its output
	Refused string // why it never ran: the API server refused the pod, or the kubelet could not set up its container
}

// runProbe creates the pod as creator (the admin, or a client acting as a manager), and as admin watches it until it
// ends or is refused, reads its log and deletes it. A pod without a name gets one.
func runProbe(ctx context.Context, creator, admin kubernetes.Interface, pod *corev1.Pod) (probeResult, error) {
	if pod.Name == "" {
		pod.Name = fmt.Sprintf("probe-%d", time.Now().UnixNano()%1e9)
	}
	ns, name := pod.Namespace, pod.Name
	if _, err := creator.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return probeResult{Refused: err.Error()}, nil
		}
		return probeResult{}, err
	}
	defer func() { _ = admin.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) }()
	var refused string
	p, err := waitPod(ctx, admin, ns, name, "to end or be refused its container", time.Second, 2*time.Minute, func(p *corev1.Pod) (bool, error) {
		for _, st := range p.Status.ContainerStatuses {
			if w := st.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
				refused = w.Reason + ": " + w.Message
				return true, nil
			}
		}
		return podEnded(p)
	})
	switch {
	case err != nil:
		return probeResult{}, err
	case refused != "":
		return probeResult{Refused: refused}, nil
	}
	raw, _ := admin.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	return probeResult{OK: p.Status.Phase == corev1.PodSucceeded, Log: strings.TrimSpace(string(raw))}, nil
}

func runAttacks(ctx context.Context, t *testing.T, cs kubernetes.Interface, set *tenants.Set, nodeIP string) []Attack {
	t.Helper()
	a, b := set.Tenants["tenant-a"], set.Tenants["tenant-b"]
	var out []Attack
	must := func(ok bool, detail string, err error) (bool, string) {
		if err != nil {
			t.Errorf("probe error: %v", err)
		}
		return ok, detail
	}
	// 1. network: tenant-a job pod → tenant-b's layer-cache registry; control: tenant-b's own job pod.
	target := fmt.Sprintf("%s-layer-cache.%s.svc.cluster.local:5000", b.Name, b.Namespace)
	attackOK, d1 := must(probe(ctx, cs, a.Namespace, jobLabels(a), a.Nodes[0], kindworld.NetcheckImage, "tcp", target, "5s"))
	controlOK, d2 := must(probe(ctx, cs, b.Namespace, jobLabels(b), b.Nodes[0], kindworld.NetcheckImage, "tcp", target, "5s"))
	out = append(out, Attack{"tenant-a job pod → tenant-b layer-cache registry", !attackOK, controlOK, d1 + " | " + d2})
	// 2. network: tenant-a job pod → tenant-b job-like pod's port; control is the registry above. Job → API server:
	// The control is the positive case the manager needs: a pod with the manager's labels in the same namespace
	// reaches the API server through the chart's policies alone (on Cilium: its CiliumNetworkPolicy, since the
	// ipBlock of the endpoints does not select the kube-apiserver identity).
	attackOK, d1 = must(probe(ctx, cs, a.Namespace, jobLabels(a), a.Nodes[0], kindworld.NetcheckImage, "tcp", "kubernetes.default.svc.cluster.local:443", "5s"))
	managerLabels := map[string]string{"gitlab-kaniko-tenant.io/tenant": a.Name, "gitlab-kaniko-tenant.io/component": "manager"}
	controlOK, d2 = must(probe(ctx, cs, a.Namespace, managerLabels, a.Nodes[0], kindworld.NetcheckImage, "tcp", "kubernetes.default.svc.cluster.local:443", "5s"))
	out = append(out, Attack{"tenant-a job pod → Kubernetes API server (control: the manager reaches it)", !attackOK, controlOK, d1 + " | " + d2})
	// 3. S3: tenant-a's keys on tenant-b's bucket; control: tenant-b's keys.
	list := func(tn tenants.Tenant, bucket string) (bool, string) {
		sec, err := cs.CoreV1().Secrets(tn.Namespace).Get(ctx, tn.Name+"-s3", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return bucketListable(ctx, nodeIP, string(sec.Data["accessKey"]), string(sec.Data["secretKey"]), bucket)
	}
	attackOK, d1 = list(a, b.Bucket)
	controlOK, d2 = list(b, b.Bucket)
	out = append(out, Attack{"tenant-a S3 keys on tenant-b's bucket (AccessDenied)", !attackOK && strings.Contains(d1, "Access Denied"), controlOK, d1 + " | " + d2})
	// 4. RBAC: tenant-a's runner ServiceAccount in tenant-b's namespace; control: its own namespace.
	can := func(ns, verb, resource string) bool {
		sar := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{User: "system:serviceaccount:" + a.Namespace + ":" + a.Name + "-runner",
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + a.Namespace, "system:authenticated"},
			ResourceAttributes: &authv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource}}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Errorf("SubjectAccessReview: %v", err)
			return false
		}
		return res.Status.Allowed
	}
	out = append(out, Attack{"tenant-a runner SA creates a pod in tenant-b", !can(b.Namespace, "create", "pods"), can(a.Namespace, "create", "pods"), ""})
	out = append(out, Attack{"tenant-a runner SA creates a secret in tenant-b", !can(b.Namespace, "create", "secrets"), can(a.Namespace, "create", "secrets"), ""})
	// The Role grants exactly the runner's calls (templates/role.yaml): no `get` on Secrets, so the manager cannot
	// read the other Secrets of its own namespace; control: the create it does need.
	out = append(out, Attack{"tenant-a runner SA reads the Secrets of its own namespace", !can(a.Namespace, "get", "secrets"), can(a.Namespace, "create", "secrets"), ""})
	// 5. Pod Security: a privileged / hostPath job pod in a tenant namespace; control: the same pod without them.
	admitted := func(mut func(*corev1.Pod)) (bool, string) {
		no := false
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "psa-", Namespace: a.Namespace, Labels: jobLabels(a)},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: &no, Containers: []corev1.Container{{Name: "c", Image: kindworld.NetcheckImage, Resources: smallResources}}}}
		mut(pod)
		_, err := cs.CoreV1().Pods(a.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	}
	attackOK, d1 = admitted(func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
	})
	controlOK, _ = admitted(func(*corev1.Pod) {})
	out = append(out, Attack{"privileged job pod in tenant-a (Pod Security baseline)", !attackOK && strings.Contains(d1, "PodSecurity"), controlOK, d1})
	attackOK, d1 = admitted(func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	})
	out = append(out, Attack{"hostPath job pod in tenant-a (Pod Security baseline)", !attackOK && strings.Contains(d1, "PodSecurity"), controlOK, d1})
	// 6. No ServiceAccount token in job pods; control: a pod that keeps the automount default.
	const tokenAttack = "ServiceAccount token inside a job pod"
	pod, err := func() (*corev1.Pod, error) {
		r, err := runnerConfig(ctx, cs, a.Namespace, a.Name)
		if err != nil {
			return nil, err
		}
		return jobpod.Pod(r, jobpod.Job{ProjectID: 9, JobID: 9, Command: []string{"/busybox/sh", "-c", "test -e /var/run/secrets/kubernetes.io/serviceaccount/token"}})
	}()
	if err != nil {
		// the attack could not be staged: it counts as not blocked
		out = append(out, Attack{tokenAttack, false, false, "building the job pod: " + err.Error()})
	} else {
		tokenFound, d := runPod(ctx, cs, pod)
		control := pod.DeepCopy()
		control.Spec.AutomountServiceAccountToken = nil
		control.Spec.ServiceAccountName = "default"
		control.Name += "-control"
		controlFound, _ := runPod(ctx, cs, control)
		out = append(out, Attack{tokenAttack, !tokenFound, controlFound, d})
	}
	// 7. Metrics: 9252 of a manager-labelled pod from monitoring only.
	mgrLabels := map[string]string{"gitlab-kaniko-tenant.io/tenant": a.Name, "gitlab-kaniko-tenant.io/component": "manager", "app.kubernetes.io/name": "gitlab-kaniko-tenant", "app.kubernetes.io/instance": a.Name}
	mgr := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "manager-standin", Namespace: a.Namespace, Labels: mgrLabels},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr(false), NodeName: a.Nodes[0], Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65534)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "c", Image: kindworld.NetcheckImage, ImagePullPolicy: corev1.PullNever, Args: []string{"serve", ":9252"}, Resources: smallResources,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}
	_ = cs.CoreV1().Pods(a.Namespace).Delete(ctx, mgr.Name, metav1.DeleteOptions{})
	waitGone(ctx, cs, a.Namespace, mgr.Name, time.Minute)
	if _, err := cs.CoreV1().Pods(a.Namespace).Create(ctx, mgr, metav1.CreateOptions{}); err != nil {
		t.Errorf("manager stand-in: %v", err)
		return out
	}
	defer func() {
		_ = cs.CoreV1().Pods(a.Namespace).Delete(context.Background(), mgr.Name, metav1.DeleteOptions{})
	}()
	var ip string
	if p, err := waitPod(ctx, cs, a.Namespace, mgr.Name, "running", time.Second, 2*time.Minute, func(p *corev1.Pod) (bool, error) {
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", nil
	}); err == nil {
		ip = p.Status.PodIP
	} else {
		logf("attack 9252: %v (the probe then reaches nothing, and its control fails)", err)
	}
	url := "http://" + ip + ":9252/metrics"
	attackOK, d1 = must(probe(ctx, cs, "default", map[string]string{"app": "scraper"}, b.Nodes[0], kindworld.NetcheckImage, "get", url, "5s"))
	controlOK, d2 = must(probe(ctx, cs, "monitoring", map[string]string{"app": "prometheus"}, b.Nodes[0], kindworld.NetcheckImage, "get", url, "5s"))
	out = append(out, Attack{"port 9252 of tenant-a's manager from outside the monitoring namespace", !attackOK, controlOK, d1 + " | " + d2})
	return out
}

// runPod runs a pod to completion and reports whether it exited 0.
func runPod(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) (bool, string) {
	p, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return false, err.Error()
	}
	defer func() {
		_ = cs.CoreV1().Pods(pod.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{})
	}()
	var code int32
	if _, err := waitPod(ctx, cs, pod.Namespace, p.Name, "to finish its build container", time.Second, 3*time.Minute, func(cur *corev1.Pod) (bool, error) {
		for _, st := range cur.Status.ContainerStatuses {
			if st.Name == jobpod.BuildContainer && st.State.Terminated != nil {
				code = st.State.Terminated.ExitCode
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return false, err.Error()
	}
	return code == 0, fmt.Sprintf("exit %d", code)
}
