package jobpod

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// Compare lists how a pod the real runner created differs from the model's prediction in everything the model
// claims: placement, identity, security contexts, resources, images and the tenant's labels. The runner tier uses
// it to keep the model honest; names, runner-generated labels and commands are outside the claim. Of the build
// container's env, the model claims the effective value of every name it predicts (environment entries overridden
// by job variables included); the runner adds many CI_* variables of its own, which are not compared.
func Compare(predicted, actual *corev1.Pod) []string {
	var diffs []string
	diff := func(what string, want, got any) {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		if string(w) != string(g) {
			diffs = append(diffs, fmt.Sprintf("%s: model %s, runner %s", what, w, g))
		}
	}
	ps, as := predicted.Spec, actual.Spec
	diff("namespace", predicted.Namespace, actual.Namespace)
	diff("serviceAccountName", ps.ServiceAccountName, as.ServiceAccountName)
	diff("automountServiceAccountToken", ps.AutomountServiceAccountToken, as.AutomountServiceAccountToken)
	diff("nodeSelector", ps.NodeSelector, as.NodeSelector)
	diff("tolerations", sortedTolerations(ps.Tolerations), sortedTolerations(withoutAdmissionDefaults(as.Tolerations, ps.Tolerations)))
	diff("affinity.nodeAffinity", nodeAffinity(ps.Affinity), nodeAffinity(as.Affinity))
	diff("securityContext", ps.SecurityContext, as.SecurityContext)
	diff("hostUsers", ps.HostUsers, as.HostUsers)
	diff("runtimeClassName", ps.RuntimeClassName, as.RuntimeClassName)
	diff("priorityClassName", ps.PriorityClassName, as.PriorityClassName)
	for k, v := range predicted.Labels {
		if protectedLabel.MatchString(k) || k == "pod" {
			continue
		}
		if actual.Labels[k] != v {
			diffs = append(diffs, fmt.Sprintf("label %s: model %q, runner %q", k, v, actual.Labels[k]))
		}
	}
	containers := func(p corev1.PodSpec) map[string]corev1.Container {
		out := map[string]corev1.Container{}
		for _, c := range append(append([]corev1.Container{}, p.InitContainers...), p.Containers...) {
			out[c.Name] = c
		}
		return out
	}
	pc, ac := containers(ps), containers(as)
	for _, name := range []string{BuildContainer, HelperContainer, InitPermissionsContainer} {
		p, okP := pc[name]
		a, okA := ac[name]
		if okP != okA {
			diffs = append(diffs, fmt.Sprintf("container %s: model has it=%t, runner has it=%t", name, okP, okA))
			continue
		}
		if !okP {
			continue
		}
		diff(name+".image", p.Image, a.Image)
		diff(name+".resources", p.Resources, a.Resources)
		diff(name+".securityContext", normalizeSC(p.SecurityContext), normalizeSC(a.SecurityContext))
		diff(name+".volumeMounts", mountsByName(p.VolumeMounts), mountsByName(a.VolumeMounts))
		if name == BuildContainer {
			got := EffectiveEnv(a.Env)
			for k, v := range EffectiveEnv(p.Env) {
				if k == "CI_RUNNER_SHORT_TOKEN" {
					continue // depends on the token the runner was given
				}
				if g, ok := got[k]; !ok || g != v {
					diffs = append(diffs, fmt.Sprintf("build env %s: model %q, runner %q (present=%t)", k, v, g, ok))
				}
			}
		}
	}
	diff("volumes", volumesByName(ps.Volumes), volumesByName(as.Volumes))
	return diffs
}

// EffectiveEnv is what a container's process sees: on a duplicate name the last entry wins (the runner already
// dedupes; a hand-made pod may not).
func EffectiveEnv(env []corev1.EnvVar) map[string]string {
	out := map[string]string{}
	for _, e := range env {
		out[e.Name] = e.Value
	}
	return out
}

// mountsByName maps mount name → path and read-only flag. The scripts and logs mounts carry the job's IDs in their
// paths, so only their presence is compared; any other mount the runner adds or drops is a difference.
func mountsByName(m []corev1.VolumeMount) map[string]string {
	out := map[string]string{}
	for _, v := range m {
		if v.Name == "scripts" || v.Name == "logs" {
			out[v.Name] = "(per job)"
			continue
		}
		out[v.Name] = fmt.Sprintf("%s:ro=%t", v.MountPath, v.ReadOnly)
	}
	return out
}

// volumesByName maps volume name → its source kind and reference (configMap name, emptyDir size).
func volumesByName(vs []corev1.Volume) map[string]string {
	out := map[string]string{}
	for _, v := range vs {
		switch {
		case v.ConfigMap != nil:
			out[v.Name] = "configMap:" + v.ConfigMap.Name
		case v.EmptyDir != nil:
			size := ""
			if v.EmptyDir.SizeLimit != nil {
				size = v.EmptyDir.SizeLimit.String()
			}
			out[v.Name] = "emptyDir:" + string(v.EmptyDir.Medium) + ":" + size
		case v.Secret != nil:
			out[v.Name] = "secret:" + v.Secret.SecretName
		default:
			out[v.Name] = "other"
		}
	}
	return out
}

// withoutAdmissionDefaults drops the tolerations the API server's DefaultTolerationSeconds admission adds to every
// pod (not-ready and unreachable, NoExecute, 300 s) unless the model has them: they are not the runner's doing.
func withoutAdmissionDefaults(actual, predicted []corev1.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range actual {
		admission := (t.Key == "node.kubernetes.io/not-ready" || t.Key == "node.kubernetes.io/unreachable") &&
			t.Operator == corev1.TolerationOpExists && t.Effect == corev1.TaintEffectNoExecute && t.TolerationSeconds != nil && *t.TolerationSeconds == 300
		if admission && !slices.ContainsFunc(predicted, func(p corev1.Toleration) bool { return p.Key == t.Key }) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func sortedTolerations(t []corev1.Toleration) []string {
	var out []string
	for _, x := range t {
		b, _ := json.Marshal(x)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

func nodeAffinity(a *corev1.Affinity) *corev1.NodeAffinity {
	if a == nil {
		return nil
	}
	return a.NodeAffinity
}

// normalizeSC sorts capability lists: the runner builds them from a map, so their order is not stable.
func normalizeSC(sc *corev1.SecurityContext) *corev1.SecurityContext {
	if sc == nil {
		return nil
	}
	out := sc.DeepCopy()
	if out.Capabilities != nil {
		sort.Slice(out.Capabilities.Add, func(i, j int) bool { return out.Capabilities.Add[i] < out.Capabilities.Add[j] })
		sort.Slice(out.Capabilities.Drop, func(i, j int) bool { return out.Capabilities.Drop[i] < out.Capabilities.Drop[j] })
	}
	return out
}

// Shape is what a job could try to change about its own pod, per field, with everything that differs from job to
// job by design left out (names, the runner's job labels and annotations, per-job mount paths, the environment,
// which carries the job's own variables). Two jobs of one project and runner have the same shape.
func Shape(p *corev1.Pod) map[string]string {
	out := map[string]string{}
	put := func(k string, v any) {
		raw, _ := json.Marshal(v)
		out[k] = string(raw)
	}
	s := p.Spec
	put("namespace", p.Namespace)
	put("serviceAccountName", s.ServiceAccountName)
	put("automountServiceAccountToken", s.AutomountServiceAccountToken)
	put("nodeSelector", s.NodeSelector)
	put("tolerations", sortedTolerations(s.Tolerations))
	put("affinity", s.Affinity)
	put("securityContext", s.SecurityContext)
	put("activeDeadlineSeconds", s.ActiveDeadlineSeconds)
	put("runtimeClassName", s.RuntimeClassName)
	put("priorityClassName", s.PriorityClassName)
	put("hostNetwork/PID/IPC", []bool{s.HostNetwork, s.HostPID, s.HostIPC})
	put("volumes", volumesByName(s.Volumes))
	for kind, m := range map[string]map[string]string{"label": p.Labels, "annotation": p.Annotations} {
		for k, v := range m {
			if !protectedLabel.MatchString(k) && k != "pod" {
				put(kind+" "+k, v)
			}
		}
	}
	var inits []string
	for _, c := range s.InitContainers {
		inits = append(inits, c.Name)
	}
	put("initContainers", inits)
	for _, c := range append(append([]corev1.Container{}, s.InitContainers...), s.Containers...) {
		put(c.Name+".image", c.Image)
		put(c.Name+".resources", c.Resources)
		put(c.Name+".securityContext", normalizeSC(c.SecurityContext))
		put(c.Name+".volumeMounts", mountsByName(c.VolumeMounts))
	}
	return out
}

// ShapeDiff lists the fields where b's shape differs from a's.
func ShapeDiff(a, b *corev1.Pod) []string {
	sa, sb := Shape(a), Shape(b)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(sa)) {
		if sa[k] != sb[k] {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, sa[k], sb[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(sb)) {
		if _, ok := sa[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (none) → %s", k, sb[k]))
		}
	}
	return out
}
