package jobpod

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Job is what GitLab sends and the runner adds per job.
type Job struct {
	ProjectID int64
	JobID     int64
	// Image of the job (`image:` in .gitlab-ci.yml); empty means the runner's default image.
	Image string
	// Variables are the job's public CI variables (CI_* and project variables) put into the build container env.
	Variables map[string]string
	// TimeoutSeconds of the job (activeDeadlineSeconds = timeout + 1, FF_USE_POD_ACTIVE_DEADLINE_SECONDS default on).
	TimeoutSeconds int64
	// Command replaces the build container's shell-detection command; the e2e job tier runs the Kaniko template's
	// script this way because there is no runner to attach and stream it.
	Command []string
}

// Container names the runner uses (executors/kubernetes constants).
const (
	BuildContainer           = "build"
	HelperContainer          = "helper"
	InitPermissionsContainer = "init-permissions"
	buildsDir                = "/builds"
)

// detectShell is the runner's bash detection command (shells/bash.go); the container blocks on stdin with it.
const detectShell = `if [ -x /usr/local/bin/bash ]; then exec /usr/local/bin/bash; elif [ -x /usr/bin/bash ]; then exec /usr/bin/bash; elif [ -x /bin/bash ]; then exec /bin/bash; elif [ -x /usr/local/bin/sh ]; then exec /usr/local/bin/sh; elif [ -x /usr/bin/sh ]; then exec /usr/bin/sh; elif [ -x /bin/sh ]; then exec /bin/sh; elif [ -x /busybox/sh ]; then exec /busybox/sh; else echo shell not found; exit 1; fi`

var protectedLabel = regexp.MustCompile(`(^|.*\.)runner\.gitlab\.com(/.*|$)`)

// Pod builds the job pod runner r would create for job j, in the runner's steps: the image, the pod's metadata,
// its containers, its spec, then what the job and the feature flags change.
func Pod(r *Runner, j Job) (*corev1.Pod, error) {
	if r.Kubernetes == nil {
		return nil, fmt.Errorf("runner %q has no [runners.kubernetes] section", r.Name)
	}
	k := keysOfVersion(r.Kubernetes)
	image, err := jobImage(k, j)
	if err != nil {
		return nil, err
	}
	configVolumes, configMounts, err := volumes(k.Volumes)
	if err != nil {
		return nil, err
	}
	containers, err := podContainers(r, k, j, image, configMounts)
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: podMeta(r, k, j),
		Spec:       podSpec(k, containers, configVolumes),
	}
	if j.TimeoutSeconds > 0 {
		d := j.TimeoutSeconds + 1
		pod.Spec.ActiveDeadlineSeconds = &d
	}
	if r.FeatureFlags["FF_USE_ADVANCED_POD_SPEC_CONFIGURATION"] {
		spec, err := applyPodSpecPatches(pod.Spec, k.PodSpec)
		if err != nil {
			return nil, err
		}
		pod.Spec = spec
	}
	return pod, nil
}

// jobImage is the build container's image: the job's when allowed_images allows it, else the runner's default. The
// helper image must be set (the runner would derive a tag from its own version).
func jobImage(k *KubernetesConfig, j Job) (string, error) {
	if k.HelperImage == "" {
		return "", fmt.Errorf("helper_image is empty: the runner would derive a tag from its own version")
	}
	if j.Image == "" {
		return k.Image, nil
	}
	if !imageAllowed(j.Image, k.AllowedImages) {
		return "", fmt.Errorf("image %q is not in allowed_images %v (the runner fails the job)", j.Image, k.AllowedImages)
	}
	return j.Image, nil
}

// podMeta is the job pod's name, namespace, labels (the runner's own, then pod_labels outside its domain) and
// annotations.
func podMeta(r *Runner, k *KubernetesConfig, j Job) metav1.ObjectMeta {
	ns := k.Namespace
	if ns == "" {
		ns = "default"
	}
	short := shortToken(r.Token)
	unique := fmt.Sprintf("runner-%s-project-%d-concurrent-0", short, j.ProjectID)
	suffix := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(j.JobID))))[:8]
	labels := map[string]string{
		"pod":                                unique,
		"job.runner.gitlab.com/pod":          unique,
		"project.runner.gitlab.com/id":       fmt.Sprint(j.ProjectID),
		"manager.runner.gitlab.com/name":     sanitizeLabel(r.Name),
		"manager.runner.gitlab.com/id-short": short,
	}
	for key, v := range k.PodLabels {
		if protectedLabel.MatchString(key) {
			continue // the runner silently ignores user labels in its own domain
		}
		labels[key] = sanitizeLabel(v)
	}
	annotations := map[string]string{
		"job.runner.gitlab.com/id":      fmt.Sprint(j.JobID),
		"project.runner.gitlab.com/id":  fmt.Sprint(j.ProjectID),
		"job.runner.gitlab.com/timeout": fmt.Sprintf("%ds", j.TimeoutSeconds),
	}
	for key, v := range k.PodAnnotations {
		annotations[key] = v
	}
	return metav1.ObjectMeta{Name: strings.Trim(truncate(dns1123(unique), 54), "-") + "-" + suffix, Namespace: ns, Labels: labels, Annotations: annotations}
}

// jobContainers are the init-permissions, build and helper containers, each with the runner's mounts (getVolumeMounts:
// scripts, logs, the configured volumes, then the builds dir) and resources.
type jobContainers struct{ initPerm, build, helper corev1.Container }

func podContainers(r *Runner, k *KubernetesConfig, j Job, image string, configMounts []corev1.VolumeMount) (jobContainers, error) {
	globalCaps := globalCapabilities(k.CapAdd, k.CapDrop)
	logs := fmt.Sprintf("/logs-%d-%d", j.ProjectID, j.JobID)
	mounts := []corev1.VolumeMount{
		{Name: "scripts", MountPath: fmt.Sprintf("/scripts-%d-%d", j.ProjectID, j.JobID)},
		{Name: "logs", MountPath: logs},
	}
	mounts = append(append(mounts, configMounts...), corev1.VolumeMount{Name: "repo", MountPath: buildsDir})
	buildRes, err := resources(k.CPURequest, k.CPULimit, k.MemoryRequest, k.MemoryLimit, k.EphemeralStorageRequest, k.EphemeralStorageLimit)
	if err != nil {
		return jobContainers{}, fmt.Errorf("build resources: %w", err)
	}
	helperRes, err := resources(k.HelperCPURequest, k.HelperCPULimit, k.HelperMemoryRequest, k.HelperMemoryLimit, k.HelperEphemeralStorageRequest, k.HelperEphemeralStorageLimit)
	if err != nil {
		return jobContainers{}, fmt.Errorf("helper resources: %w", err)
	}
	c := jobContainers{
		build: corev1.Container{
			Name: BuildContainer, Image: image, ImagePullPolicy: pullPolicy(k.PullPolicy),
			Command: []string{"sh", "-c", detectShell}, Env: buildEnv(r, j), Resources: buildRes, VolumeMounts: mounts,
			SecurityContext: containerSecurityContext(k.BuildContainerSecurityContext, globalCaps, k.Privileged, k.AllowPrivilegeEscalation),
			Stdin:           true,
		},
		helper: corev1.Container{
			Name: HelperContainer, Image: k.HelperImage, ImagePullPolicy: pullPolicy(k.PullPolicy),
			Command: []string{"sh", "-c", detectShell}, Resources: helperRes, VolumeMounts: mounts,
			SecurityContext: containerSecurityContext(k.HelperContainerSecurityContext, globalCaps, k.Privileged, k.AllowPrivilegeEscalation),
			Stdin:           true,
		},
		initPerm: corev1.Container{
			Name: InitPermissionsContainer, Image: k.HelperImage, ImagePullPolicy: pullPolicy(k.PullPolicy),
			Command:   []string{"sh", "-c", fmt.Sprintf("touch %[1]s/output.log && (chmod 777 %[1]s/output.log || exit 0)", logs)},
			Resources: helperRes, VolumeMounts: mounts,
			SecurityContext: containerSecurityContext(k.InitPermissionsContainerSecurityContext, globalCaps, k.Privileged, k.AllowPrivilegeEscalation),
		},
	}
	if len(j.Command) > 0 {
		c.build.Command, c.build.Stdin = j.Command, false
	}
	return c, nil
}

// podSpec is the job pod's spec: placement, security and the volumes (getVolumes: the configured ones, then repo,
// scripts, logs).
func podSpec(k *KubernetesConfig, c jobContainers, configVolumes []corev1.Volume) corev1.PodSpec {
	spec := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		DNSPolicy:                     corev1.DNSClusterFirst,
		ServiceAccountName:            k.ServiceAccount,
		AutomountServiceAccountToken:  k.AutomountServiceAccountToken,
		NodeSelector:                  k.NodeSelector,
		Tolerations:                   tolerations(k.NodeTolerations),
		Affinity:                      affinity(k.Affinity),
		SecurityContext:               podSecurityContext(k.PodSecurityContext),
		InitContainers:                []corev1.Container{c.initPerm},
		Containers:                    []corev1.Container{c.build, c.helper},
		TerminationGracePeriodSeconds: k.PodTerminationGracePeriodSeconds,
		PriorityClassName:             k.PriorityClassName,
		RuntimeClassName:              k.RuntimeClassName,
		Volumes: append(configVolumes,
			corev1.Volume{Name: "repo", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			corev1.Volume{Name: "scripts", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			corev1.Volume{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		),
	}
	for _, s := range k.ImagePullSecrets {
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return spec
}

// RunnerVersion is the runner version a config.toml is for, as [major, minor], read from its helper image tag (the
// chart keeps it equal to the runner's; e.g. x86_64-v17.9.3). ok is false when the tag names no version.
func RunnerVersion(k *KubernetesConfig) (v [2]int, ok bool) {
	m := versionInTag.FindStringSubmatch(k.HelperImage)
	if m == nil {
		return v, false
	}
	fmt.Sscan(m[1], &v[0])
	fmt.Sscan(m[2], &v[1])
	return v, true
}

var versionInTag = regexp.MustCompile(`v([0-9]+)\.([0-9]+)\.[0-9]+`)

// keysOfVersion drops what the config's runner version does not read, as the runner itself would (silently).
// seccomp_profile in pod_security_context and the container security contexts: absent from 17.9.3's
// common/config.go, present in 19.4; treated as absent before 19.4 (the versions between are unverified, and
// dropping can only make the model claim less).
func keysOfVersion(k *KubernetesConfig) *KubernetesConfig {
	v, ok := RunnerVersion(k)
	if !ok || v[0] > 19 || (v[0] == 19 && v[1] >= 4) {
		return k
	}
	out := *k
	if k.PodSecurityContext != nil {
		p := *k.PodSecurityContext
		p.SeccompProfile = nil
		out.PodSecurityContext = &p
	}
	for _, sc := range []**ContainerSecurityContext{&out.BuildContainerSecurityContext, &out.HelperContainerSecurityContext, &out.InitPermissionsContainerSecurityContext, &out.ServiceContainerSecurityContext} {
		if *sc != nil {
			c := **sc
			c.SeccompProfile = nil
			*sc = &c
		}
	}
	return &out
}

// applyPodSpecPatches applies the pod_spec patches to the PodSpec, as the runner does (strategic merge against
// PodSpec; json-merge; the chart renders no json-patch).
func applyPodSpecPatches(spec corev1.PodSpec, patches []PodSpecPatch) (corev1.PodSpec, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return spec, err
	}
	for _, p := range patches {
		switch p.PatchType {
		case "", "strategic":
			data, err = strategicpatch.StrategicMergePatch(data, []byte(p.Patch), corev1.PodSpec{})
		case "merge":
			data, err = jsonpatch.MergePatch(data, []byte(p.Patch))
		default:
			return spec, fmt.Errorf("pod_spec %s: patch_type %q is not modelled", p.Name, p.PatchType)
		}
		if err != nil {
			return spec, fmt.Errorf("pod_spec %s: %w", p.Name, err)
		}
	}
	var out corev1.PodSpec
	return out, json.Unmarshal(data, &out)
}

// buildEnv is the build container's env as executors/kubernetes buildVariables makes it from GetAllVariables:
// [[runners]] environment first, the job's variables after them, and on a duplicate name the first position with the
// last value. So a job variable overrides the environment the chart renders: nothing that isolates a tenant may rely
// on an environment entry (the chart's platform file is mounted instead, see docs/job-pod-model.md).
func buildEnv(r *Runner, j Job) []corev1.EnvVar {
	var env []corev1.EnvVar
	idx := map[string]int{}
	add := func(n, v string) {
		if i, ok := idx[n]; ok {
			env[i].Value = v
			return
		}
		idx[n] = len(env)
		env = append(env, corev1.EnvVar{Name: n, Value: v})
	}
	for _, e := range r.Environment {
		n, v, _ := strings.Cut(e, "=")
		add(n, v)
	}
	names := make([]string, 0, len(j.Variables))
	for n := range j.Variables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(n, j.Variables[n])
	}
	add("CI_RUNNER_SHORT_TOKEN", shortToken(r.Token))
	return env
}

// volumes are the configured volumes and their mounts, in the runner's order (getVolumesForConfig: config maps,
// then empty dirs). Mount paths are literal: the runner expands job variables in them, so the chart never renders a $.
func volumes(v *Volumes) ([]corev1.Volume, []corev1.VolumeMount, error) {
	if v == nil {
		return nil, nil, nil
	}
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, c := range v.ConfigMaps {
		if strings.Contains(c.MountPath, "$") {
			return nil, nil, fmt.Errorf("config_map %s: mount_path %q would be expanded with the job's variables", c.Name, c.MountPath)
		}
		var items []corev1.KeyToPath
		keys := make([]string, 0, len(c.Items))
		for k := range c.Items {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			items = append(items, corev1.KeyToPath{Key: k, Path: c.Items[k]})
		}
		vols = append(vols, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: c.Name}, Items: items}}})
		mounts = append(mounts, corev1.VolumeMount{Name: c.Name, MountPath: c.MountPath, ReadOnly: c.ReadOnly})
	}
	for _, e := range v.EmptyDirs {
		if strings.Contains(e.MountPath, "$") {
			return nil, nil, fmt.Errorf("empty_dir %s: mount_path %q would be expanded with the job's variables", e.Name, e.MountPath)
		}
		src := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMedium(e.Medium)}
		if e.SizeLimit != "" {
			q, err := resource.ParseQuantity(e.SizeLimit)
			if err != nil {
				return nil, nil, fmt.Errorf("empty_dir %s: size_limit: %w", e.Name, err)
			}
			src.SizeLimit = &q
		}
		vols = append(vols, corev1.Volume{Name: e.Name, VolumeSource: corev1.VolumeSource{EmptyDir: src}})
		mounts = append(mounts, corev1.VolumeMount{Name: e.Name, MountPath: e.MountPath})
	}
	return vols, mounts, nil
}

// globalCapabilities: default drop NET_RAW, cap_add wins over the default, cap_drop wins over cap_add
// (common/config.go getCapabilities).
func globalCapabilities(add, drop []string) *corev1.Capabilities {
	state := map[string]bool{"NET_RAW": false}
	for _, c := range add {
		state[c] = true
	}
	for _, c := range drop {
		state[c] = false
	}
	caps := &corev1.Capabilities{}
	keys := make([]string, 0, len(state))
	for c := range state {
		keys = append(keys, c)
	}
	sort.Strings(keys)
	for _, c := range keys {
		if state[c] {
			caps.Add = append(caps.Add, corev1.Capability(c))
		} else {
			caps.Drop = append(caps.Drop, corev1.Capability(c))
		}
	}
	return caps
}

func containerSecurityContext(c *ContainerSecurityContext, global *corev1.Capabilities, privileged, ape *bool) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{Capabilities: global.DeepCopy(), Privileged: privileged, AllowPrivilegeEscalation: ape}
	if c == nil {
		return sc
	}
	if c.Capabilities != nil {
		// A container-level list replaces the global one (mergeCapabilitiesAddDrop), even when empty.
		if c.Capabilities.Add != nil {
			sc.Capabilities.Add = toCaps(c.Capabilities.Add)
		}
		if c.Capabilities.Drop != nil {
			sc.Capabilities.Drop = toCaps(c.Capabilities.Drop)
		}
	}
	if c.Privileged != nil {
		sc.Privileged = c.Privileged
	}
	if c.AllowPrivilegeEscalation != nil {
		sc.AllowPrivilegeEscalation = c.AllowPrivilegeEscalation
	}
	sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot, sc.ReadOnlyRootFilesystem = c.RunAsUser, c.RunAsGroup, c.RunAsNonRoot, c.ReadOnlyRootFilesystem
	if c.SeccompProfile != nil {
		sc.SeccompProfile = seccomp(c.SeccompProfile)
	}
	return sc
}

func toCaps(in []string) []corev1.Capability {
	out := make([]corev1.Capability, 0, len(in))
	for _, c := range in {
		out = append(out, corev1.Capability(c))
	}
	return out
}

func podSecurityContext(p *PodSecurityContext) *corev1.PodSecurityContext {
	if p == nil {
		return nil
	}
	sc := &corev1.PodSecurityContext{FSGroup: p.FSGroup, RunAsGroup: p.RunAsGroup, RunAsNonRoot: p.RunAsNonRoot, RunAsUser: p.RunAsUser}
	if p.SeccompProfile != nil {
		sc.SeccompProfile = seccomp(p.SeccompProfile)
	}
	return sc
}

func seccomp(s *SeccompProfile) *corev1.SeccompProfile {
	switch corev1.SeccompProfileType(s.Type) {
	case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileType(s.Type)}
	case corev1.SeccompProfileTypeLocalhost:
		if s.LocalhostProfile == "" {
			return nil
		}
		lp := s.LocalhostProfile
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &lp}
	}
	return nil // the runner logs an invalid type and leaves the profile unset
}

// tolerations: "key=value" = effect → Equal; "key" = effect → Exists; empty effect = all effects.
func tolerations(m map[string]string) []corev1.Toleration {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.Toleration
	for _, k := range keys {
		t := corev1.Toleration{Effect: corev1.TaintEffect(m[k])}
		if key, val, ok := strings.Cut(k, "="); ok {
			t.Key, t.Value, t.Operator = key, val, corev1.TolerationOpEqual
		} else {
			t.Key, t.Operator = k, corev1.TolerationOpExists
		}
		out = append(out, t)
	}
	return out
}

func affinity(a *Affinity) *corev1.Affinity {
	out := &corev1.Affinity{}
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.Required == nil {
		return out
	}
	ns := &corev1.NodeSelector{}
	for _, term := range a.NodeAffinity.Required.NodeSelectorTerms {
		var t corev1.NodeSelectorTerm
		for _, e := range term.MatchExpressions {
			t.MatchExpressions = append(t.MatchExpressions, corev1.NodeSelectorRequirement{Key: e.Key, Operator: corev1.NodeSelectorOperator(e.Operator), Values: e.Values})
		}
		ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, t)
	}
	out.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ns}
	return out
}

func resources(cpuReq, cpuLim, memReq, memLim, ephReq, ephLim string) (corev1.ResourceRequirements, error) {
	rr := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	set := func(l corev1.ResourceList, name corev1.ResourceName, v string) error {
		if v == "" {
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", name, v, err)
		}
		l[name] = q
		return nil
	}
	for _, s := range []struct {
		l    corev1.ResourceList
		name corev1.ResourceName
		v    string
	}{
		{rr.Requests, corev1.ResourceCPU, cpuReq}, {rr.Limits, corev1.ResourceCPU, cpuLim},
		{rr.Requests, corev1.ResourceMemory, memReq}, {rr.Limits, corev1.ResourceMemory, memLim},
		{rr.Requests, corev1.ResourceEphemeralStorage, ephReq}, {rr.Limits, corev1.ResourceEphemeralStorage, ephLim},
	} {
		if err := set(s.l, s.name, s.v); err != nil {
			return rr, err
		}
	}
	return rr, nil
}

func pullPolicy(p []string) corev1.PullPolicy {
	if len(p) == 0 {
		return ""
	}
	switch p[0] {
	case "always":
		return corev1.PullAlways
	case "never":
		return corev1.PullNever
	case "if-not-present":
		return corev1.PullIfNotPresent
	}
	return ""
}

// imageAllowed mirrors the runner's allowed_images check: empty list allows all; entries are globs.
func imageAllowed(image string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if a == image {
			return true
		}
		if ok, _ := path.Match(a, image); ok {
			return true
		}
	}
	return false
}

func shortToken(tok string) string {
	for _, p := range []string{"glrt-", "glrtr-", "t1_", "t2_", "t3_"} {
		tok = strings.TrimPrefix(tok, p)
	}
	return truncate(sanitizeLabel(tok), 9)
}

var labelUnsafe = regexp.MustCompile(`[^-A-Za-z0-9_.]`)

func sanitizeLabel(s string) string {
	s = labelUnsafe.ReplaceAllString(s, "_")
	s = truncate(s, 63)
	return strings.Trim(s, "-_.")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

var dnsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// dns1123 makes a name valid for Kubernetes objects, as the runner's generateNameForK8sResources does.
func dns1123(s string) string {
	return strings.Trim(dnsUnsafe.ReplaceAllString(strings.ToLower(s), "-"), "-")
}
