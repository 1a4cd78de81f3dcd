package jobpod

import (
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// Compare lists how a pod the real runner created differs from the model's prediction in everything the model
// claims: placement, identity, security contexts, resources, images and the tenant's labels. The runner tier uses
// it to keep the model honest; names, runner-generated labels, env and commands are outside the claim.
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
	diff("tolerations", sortedTolerations(ps.Tolerations), sortedTolerations(as.Tolerations))
	diff("affinity.nodeAffinity", nodeAffinity(ps.Affinity), nodeAffinity(as.Affinity))
	diff("securityContext", ps.SecurityContext, as.SecurityContext)
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
	}
	return diffs
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
