//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// The modes of `make e2e-modes`: each is a tenant-bootstrap plan (values files under test/e2e, in order) and the
// tenant chart values that go with it.
var (
	sharedPlan          = append(append([]string{}, defaultPlan...), "values/modes-shared.yaml")
	daemonsetPlan       = append(append([]string{}, defaultPlan...), "values/modes-daemonset.yaml")
	daemonsetGrownPlan  = []string{"values/modes-daemonset-grown.yaml", "values/bootstrap-e2e.yaml"}
	sharedTenantValues  = map[string]any{"mode": "shared"}
	daemonsetPerNode    = 1 // runner.concurrent of each node's manager, as values/modes-daemonset*.yaml plan it
	daemonsetTenantVals = map[string]any{"mode": "daemonset", "runner": map[string]any{"concurrent": daemonsetPerNode, "limit": daemonsetPerNode}}
)

// switchMode reinstalls the platform in another mode, as an admin migrating tenants would: every tenant release
// uninstalled, tenant-bootstrap upgraded to the new plan (nodes, buckets and credentials follow it), the user's
// Secrets created in each tenant's new namespace, and each tenant of the plan installed with its values plus extra.
// The projects then point at their tenant as the new plan has it.
func (rt *runnerTier) switchMode(ctx context.Context, t *testing.T, plan []string, extra map[string]any) {
	t.Helper()
	start := time.Now()
	for _, tn := range rt.p.set.Sorted() {
		if err := rt.uninstallTenant(tn); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.p.plan(ctx, plan...); err != nil {
		t.Fatal(err)
	}
	for _, tp := range rt.projects {
		tn, ok := rt.p.set.Tenants[tp.tn.Name]
		if !ok {
			continue // not in this plan
		}
		tp.tn = tn
		if err := userSecrets(ctx, rt.p.cs, rt.f, tn, tp.runner, true); err != nil {
			t.Fatal(err)
		}
		if err := (kindworld.Release{Kubeconfig: rt.p.w.Kubeconfig, Name: tn.Name, Namespace: tn.Namespace, Chart: filepath.Join(repo, "charts/gitlab-kaniko-tenant"),
			Values: rt.tenantValues(t, tp, extra), Wait: true, Timeout: 5 * time.Minute}).Apply(logf); err != nil {
			t.Fatal(err)
		}
	}
	logf("modes: platform in plan %v (%s)", plan, time.Since(start).Round(time.Second))
}

// uninstallTenant removes a tenant's release from the namespace the current plan gives it.
func (rt *runnerTier) uninstallTenant(tn tenants.Tenant) error {
	return kindworld.Release{Kubeconfig: rt.p.w.Kubeconfig, Name: tn.Name, Namespace: tn.Namespace}.Uninstall(logf)
}

// asManager is a client with the credentials of the tenant's manager (its ServiceAccount, impersonated): what a
// compromised or misconfigured manager, or anyone holding its token, can do.
func asManager(kubeconfig string, tn tenants.Tenant) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + tn.Namespace + ":" + tn.Name + "-runner",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tn.Namespace, "system:authenticated"}}
	return kubernetes.NewForConfig(cfg)
}

// managers are the clients of the attacker's and the victim's managers.
func (rt *runnerTier) managers(attacker, victim tenants.Tenant) (kubernetes.Interface, kubernetes.Interface, error) {
	a, err := asManager(rt.p.w.Kubeconfig, attacker)
	if err != nil {
		return nil, nil, err
	}
	v, err := asManager(rt.p.w.Kubeconfig, victim)
	return a, v, err
}

// modeCase is one weakness case (harness.Weaknesses) run live in one mode: the attack, and the controls without
// which its outcome would prove nothing.
type modeCase struct {
	Name             string // the catalogue's name
	Mode             string // the mode it ran in
	Attacker, Victim string
	Worked           bool   // the attack did what the weakness says (shared mode: it must; namespace mode: it must not)
	ControlOK        bool   // every control behaved
	Detail           string // what each step saw
}

func (c modeCase) String() string {
	return fmt.Sprintf("%s [%s, %s against %s]: worked=%t control=%t: %s", c.Name, c.Mode, c.Attacker, c.Victim, c.Worked, c.ControlOK, c.Detail)
}

// weaknessProbes runs every case of the catalogue in the platform's current mode: the network case in both
// directions (as the truth table probes it), the others with tenant-b against tenant-a (they are symmetric).
func (rt *runnerTier) weaknessProbes(ctx context.Context, t *phase, mode string) []modeCase {
	a, b := rt.p.set.Tenants["tenant-a"], rt.p.set.Tenants["tenant-b"]
	run := map[string]func(ctx context.Context, attacker, victim tenants.Tenant) (modeCase, error){
		"shared/layer-cache-through-borrowed-labels": rt.layerCacheThroughBorrowedLabels,
		"shared/secrets-through-pod-mounts":          rt.secretsThroughPodMounts,
		"shared/quota-starvation":                    rt.quotaStarvation,
	}
	var out []modeCase
	for _, w := range harness.Weaknesses() {
		fn, ok := run[w.Name]
		if !ok {
			t.Errorf("weakness %s has no live case in test/e2e/modes.go", w.Name)
			continue
		}
		pairs := [][2]tenants.Tenant{{b, a}}
		if w.Name == "shared/layer-cache-through-borrowed-labels" {
			pairs = append(pairs, [2]tenants.Tenant{a, b})
		}
		for _, p := range pairs {
			c, err := fn(ctx, p[0], p[1])
			if err != nil {
				t.Errorf("%s in %s mode (%s against %s): %v", w.Name, mode, p[0].Name, p[1].Name, err)
				continue
			}
			c.Name, c.Mode, c.Attacker, c.Victim = w.Name, mode, p[0].Name, p[1].Name
			logf("modes: %s", c)
			out = append(out, c)
		}
	}
	return out
}

// pinnedProbe is a pod as a tenant's job pod is scheduled: on the tenant's nodes (its label and toleration).
func (rt *runnerTier) pinnedProbe(tn tenants.Tenant, labels map[string]string, c corev1.Container) *corev1.Pod {
	no := false
	np := rt.p.set.NodePinning
	c.Name, c.ImagePullPolicy, c.Resources = "c", corev1.PullIfNotPresent, smallResources
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: tn.Namespace, Labels: labels},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: &no,
			NodeSelector: map[string]string{np.LabelKey: tn.Name},
			Tolerations:  []corev1.Toleration{{Key: np.TaintKey, Operator: corev1.TolerationOpEqual, Value: tn.Name, Effect: corev1.TaintEffectNoSchedule}},
			Containers:   []corev1.Container{c}}}
}

// layerCacheThroughBorrowedLabels: the attacker's manager creates a pod with the victim's job labels that connects
// to the victim's layer-cache registry. Controls: the same pod with the attacker's own labels is refused, and the
// victim's own job pod connects.
func (rt *runnerTier) layerCacheThroughBorrowedLabels(ctx context.Context, attacker, victim tenants.Tenant) (modeCase, error) {
	mgr, victimMgr, err := rt.managers(attacker, victim)
	if err != nil {
		return modeCase{}, err
	}
	target := fmt.Sprintf("%s-layer-cache.%s.svc.cluster.local:5000", victim.Name, victim.Namespace)
	dial := corev1.Container{Image: kindworld.NetcheckImage, Args: []string{"tcp", target, "5s"}}
	var detail []string
	step := func(what string, cs kubernetes.Interface, tn tenants.Tenant, labels map[string]string) (bool, error) {
		res, err := runProbe(ctx, cs, rt.p.cs, rt.pinnedProbe(tn, labels, dial))
		if err != nil {
			return false, err
		}
		if res.Refused != "" {
			return false, fmt.Errorf("%s: pod refused: %s", what, res.Refused)
		}
		detail = append(detail, fmt.Sprintf("%s: connected=%t (%s)", what, res.OK, res.Log))
		return res.OK, nil
	}
	borrowed, err := step("borrowed labels", mgr, attacker, jobLabels(victim))
	if err != nil {
		return modeCase{}, err
	}
	own, err := step("own labels", mgr, attacker, jobLabels(attacker))
	if err != nil {
		return modeCase{}, err
	}
	victims, err := step("victim's job", victimMgr, victim, jobLabels(victim))
	if err != nil {
		return modeCase{}, err
	}
	return modeCase{Worked: borrowed, ControlOK: !own && victims, Detail: strings.Join(detail, "; ")}, nil
}

// secretsThroughPodMounts: the attacker's manager creates a pod that takes the victim's S3 keys and runner token
// from the victim's Secrets, and the keys list the victim's bucket while GitLab takes the token as the victim's
// runner. Control: the same pod with the attacker's own Secrets runs (so a refusal is the namespace's, not the pod's).
func (rt *runnerTier) secretsThroughPodMounts(ctx context.Context, attacker, victim tenants.Tenant) (modeCase, error) {
	mgr, err := asManager(rt.p.w.Kubeconfig, attacker)
	if err != nil {
		return modeCase{}, err
	}
	leak := func(of tenants.Tenant) (probeResult, error) {
		ref := func(secret, key string) *corev1.EnvVarSource {
			return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}
		}
		c := corev1.Container{Image: rt.rw.KanikoImage(), Command: []string{"/busybox/sh", "-c", `echo "$AK $SK $TOKEN"`},
			Env: []corev1.EnvVar{{Name: "AK", ValueFrom: ref(of.Name+"-s3", "accessKey")}, {Name: "SK", ValueFrom: ref(of.Name+"-s3", "secretKey")},
				{Name: "TOKEN", ValueFrom: ref(of.Name+"-runner-token", "runner-token")}}}
		if rt.pull {
			c.Image = upstreamKaniko(rt)
		}
		return runProbe(ctx, mgr, rt.p.cs, rt.pinnedProbe(attacker, jobLabels(attacker), c))
	}
	use := func(res probeResult, of tenants.Tenant) (bool, string) {
		f := strings.Fields(res.Log)
		if !res.OK || len(f) != 3 {
			return false, fmt.Sprintf("no credentials read (%s%s)", res.Refused, res.Log)
		}
		listed, why := bucketListable(ctx, rt.p.nodeIP, f[0], f[1], of.Bucket)
		id, err := rt.f.api.VerifyRunner(ctx, f[2])
		runner := rt.project(of.Name).runner.ID
		return listed && err == nil && id == runner, fmt.Sprintf("bucket %s listed=%t (%s), token verified as runner %d (want %d, %v)", of.Bucket, listed, why, id, runner, err)
	}
	theirs, err := leak(victim)
	if err != nil {
		return modeCase{}, err
	}
	worked, d1 := use(theirs, victim)
	own, err := leak(attacker)
	if err != nil {
		return modeCase{}, err
	}
	ownOK, d2 := use(own, attacker)
	return modeCase{Worked: worked, ControlOK: ownOK, Detail: "victim's Secrets: " + d1 + "; own Secrets: " + d2}, nil
}

// upstreamKaniko is the Kaniko image of pull mode.
func upstreamKaniko(rt *runnerTier) string {
	_, _, _, _, kaniko := rt.rw.UpstreamImages()
	return kaniko
}

// bucketListable reports whether the keys list the bucket through MinIO's NodePort.
func bucketListable(ctx context.Context, nodeIP, accessKey, secretKey, bucket string) (bool, string) {
	c, err := minio.New(nodeIP+":30900", &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1"})
	if err != nil {
		return false, err.Error()
	}
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{MaxKeys: 1}) {
		if o.Err != nil {
			return false, o.Err.Error()
		}
	}
	return true, "listed"
}

// quotaStarvation: the attacker's manager creates pods (Pending: no node matches them, but they count against the
// quota) until its namespace's quota refuses one; then the victim's manager tries to create a pod in the victim's
// namespace. Controls: before, the victim's create succeeds; the attacker's filling ends with a quota refusal.
func (rt *runnerTier) quotaStarvation(ctx context.Context, attacker, victim tenants.Tenant) (modeCase, error) {
	mgr, victimMgr, err := rt.managers(attacker, victim)
	if err != nil {
		return modeCase{}, err
	}
	no := false
	parked := func(tn tenants.Tenant, prefix string) *corev1.Pod {
		size := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("256Mi")}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Namespace: tn.Namespace, Labels: map[string]string{"gkt-e2e/parked": tn.Name}},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: &no, NodeSelector: map[string]string{"gkt-e2e/no-such-node": "true"},
				Containers: []corev1.Container{{Name: "c", Image: kindworld.NetcheckImage, ImagePullPolicy: corev1.PullNever, Resources: corev1.ResourceRequirements{Requests: size, Limits: size}}}}}
	}
	clean := func() {
		for _, tn := range []tenants.Tenant{attacker, victim} {
			_ = rt.p.cs.CoreV1().Pods(tn.Namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "gkt-e2e/parked"})
		}
		_ = wait.For(context.Background(), "parked pods gone", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
			for _, tn := range []tenants.Tenant{attacker, victim} {
				l, err := rt.p.cs.CoreV1().Pods(tn.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "gkt-e2e/parked"})
				if err != nil || len(l.Items) > 0 {
					return false, nil
				}
			}
			return true, nil
		})
	}
	defer clean()
	victimCreate := func() (bool, string, error) {
		_, err := victimMgr.CoreV1().Pods(victim.Namespace).Create(ctx, parked(victim, "victim-"), metav1.CreateOptions{})
		switch {
		case err == nil:
			return true, "created", nil
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
			return false, err.Error(), nil
		}
		return false, "", err
	}
	before, d0, err := victimCreate()
	if err != nil {
		return modeCase{}, err
	}
	filled, refusal := 0, ""
	for ; filled < 200; filled++ {
		if _, err := mgr.CoreV1().Pods(attacker.Namespace).Create(ctx, parked(attacker, "filler-"), metav1.CreateOptions{}); err != nil {
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
				return modeCase{}, err
			}
			refusal = err.Error()
			break
		}
	}
	after, d1, err := victimCreate()
	if err != nil {
		return modeCase{}, err
	}
	return modeCase{Worked: !after, ControlOK: before && refusal != "",
		Detail: fmt.Sprintf("victim before: %s; attacker parked %d pods until %q; victim after: %s", d0, filled, shortQuota(refusal), shortQuota(d1))}, nil
}

// shortQuota keeps the quota name and the exceeded resources of a refusal.
func shortQuota(s string) string {
	if m := regexp.MustCompile(`exceeded quota: (\S+), requested: ([^,]+)`).FindStringSubmatch(s); m != nil {
		return "exceeded quota " + m[1] + " (" + m[2] + ")"
	}
	return s
}
