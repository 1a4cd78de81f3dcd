package jobpod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCompareFindsWhatTheModelClaims(t *testing.T) {
	cfg, err := Parse(renderedConfig(t, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	model, err := Pod(&cfg.Runners[0], Job{ProjectID: 3, JobID: 4, TimeoutSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if d := Compare(model, model.DeepCopy()); len(d) != 0 {
		t.Fatalf("a pod equal to the model must compare clean: %v", d)
	}
	// Capability order differs between runner runs (built from a map): not a difference.
	shuffled := model.DeepCopy()
	add := shuffled.Spec.Containers[0].SecurityContext.Capabilities.Add
	add[0], add[len(add)-1] = add[len(add)-1], add[0]
	if d := Compare(model, shuffled); len(d) != 0 {
		t.Errorf("capability order must not matter: %v", d)
	}
	// The API server's DefaultTolerationSeconds admission adds two tolerations to every pod: not the runner's doing.
	admitted := model.DeepCopy()
	five := int64(300)
	for _, k := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
		admitted.Spec.Tolerations = append(admitted.Spec.Tolerations, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &five})
	}
	if d := Compare(model, admitted); len(d) != 0 {
		t.Errorf("admission's default tolerations must not count: %v", d)
	}
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   string
	}{
		{"runner tolerates every NoExecute taint for ever", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
		}, "tolerations"},
		{"runner tolerates another tenant's taint", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gitlab-kaniko-tenant.io/tenant", Operator: corev1.TolerationOpEqual, Value: "tenant-b", Effect: corev1.TaintEffectNoSchedule})
		}, "tolerations"},
		{"runner ignored the user-namespace patch", func(p *corev1.Pod) { p.Spec.HostUsers = nil }, "hostUsers"},
		{"runner dropped the node selector", func(p *corev1.Pod) { p.Spec.NodeSelector = nil }, "nodeSelector"},
		{"runner mounted a token", func(p *corev1.Pod) { yes := true; p.Spec.AutomountServiceAccountToken = &yes }, "automountServiceAccountToken"},
		{"runner added a capability", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = append(p.Spec.Containers[0].SecurityContext.Capabilities.Add, "SYS_ADMIN")
		}, "build.securityContext"},
		{"helper not hardened", func(p *corev1.Pod) { p.Spec.Containers[1].SecurityContext.RunAsNonRoot = nil }, "helper.securityContext"},
		{"tenant label missing", func(p *corev1.Pod) { delete(p.Labels, "gitlab-kaniko-tenant.io/tenant") }, "label gitlab-kaniko-tenant.io/tenant"},
		{"different helper image", func(p *corev1.Pod) { p.Spec.Containers[1].Image = "other:1" }, "helper.image"},
		{"job variable overrode the platform's environment", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "KANIKO_CACHE_REPO", Value: "tenant-b-layer-cache.tenant-b.svc:5000/x"})
		}, "build env KANIKO_CACHE_REPO"},
		{"platform file not mounted", func(p *corev1.Pod) {
			var keep []corev1.VolumeMount
			for _, m := range p.Spec.Containers[0].VolumeMounts {
				if m.Name != "tenant-a-job-platform" {
					keep = append(keep, m)
				}
			}
			p.Spec.Containers[0].VolumeMounts = keep
		}, "build.volumeMounts"},
		{"no /cache volume", func(p *corev1.Pod) {
			var keep []corev1.Volume
			for _, v := range p.Spec.Volumes {
				if v.Name != "runner-cache" {
					keep = append(keep, v)
				}
			}
			p.Spec.Volumes = keep
		}, "volumes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			actual := model.DeepCopy()
			tc.mutate(actual)
			d := Compare(model, actual)
			if len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), tc.want) {
				t.Errorf("want a difference on %s, got %v", tc.want, d)
			}
		})
	}
}

// TestShapeDiff: what a hostile job could change about its pod shows; what differs per job by design does not.
func TestShapeDiff(t *testing.T) {
	cfg, err := Parse(renderedConfig(t, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Pod(&cfg.Runners[0], Job{ProjectID: 3, JobID: 4, TimeoutSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Pod(&cfg.Runners[0], Job{ProjectID: 3, JobID: 5, TimeoutSeconds: 3600, Variables: map[string]string{"FF_X": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	b.Name = "other"
	b.Annotations = map[string]string{"job.runner.gitlab.com/id": "5"}
	for k, v := range a.Annotations {
		if !protectedLabel.MatchString(k) {
			b.Annotations[k] = v
		}
	}
	if d := ShapeDiff(a, b); len(d) != 0 {
		t.Fatalf("two jobs of one project must have one shape: %v", d)
	}
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   string
	}{
		{"other namespace", func(p *corev1.Pod) { p.Namespace = "tenant-b" }, "namespace"},
		{"manager's account", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "tenant-a-runner" }, "serviceAccountName"},
		{"no deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, "activeDeadlineSeconds"},
		{"no init-permissions", func(p *corev1.Pod) { p.Spec.InitContainers = nil }, "initContainers"},
		{"a label", func(p *corev1.Pod) { p.Labels["gitlab-kaniko-tenant.io/component"] = "manager" }, "label gitlab-kaniko-tenant.io/component"},
		{"an annotation", func(p *corev1.Pod) {
			p.Annotations["container.apparmor.security.beta.kubernetes.io/build"] = "unconfined"
		}, "annotation container.apparmor"},
		{"more memory", func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = nil }, "build.resources"},
		{"other node", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"x": "y"} }, "nodeSelector"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := b.DeepCopy()
			c.mutate(m)
			if d := ShapeDiff(a, m); len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), c.want) {
				t.Fatalf("want a difference on %s, got %v", c.want, d)
			}
		})
	}
}
