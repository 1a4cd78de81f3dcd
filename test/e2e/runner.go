//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/harness"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/pipelines"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/runnerlife"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/thirdparty"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	gitlab "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/wait"
)

// exampleProject is one tenant's real project in test/e2e/projects, and what its pipeline must show.
type exampleProject struct {
	Tenant, Dir string
	Builder     string // its test job's image (loaded into the nodes)
	BuilderRepo string // the same image in the destination registry, for the Dockerfile's FROM
	CacheKey    string // the runner cache key of its test job
	Restored    string // the line its test job prints when the runner cache brought the dependencies back
	Source      string // the file a code-only change edits ("version 1" → "version N")
	Greeting    string // what the built image prints, before the version
	// Profile is the tenant's runner profile the project's jobs are tagged for (values/<tenant>-profiles.yaml), in a
	// runner tier with profiles; empty: the tenant's single runner, or its profile serving the tenant's own tag.
	Profile string
	// Rename replaces a word in every file of the project (the C# project, tenant-b's, committed for tenant-a's dotnet
	// profile: its tags and greeting).
	Rename [2]string
}

// key names a project's pipelines in the summaries: its tenant, and the profile when it is not the tenant's first
// project.
func (ex exampleProject) key() string {
	if ex.Rename[0] != "" {
		return ex.Tenant + "/" + ex.Profile
	}
	return ex.Tenant
}

// exampleProjects: tenant-a builds a real Maven project, tenant-b a real C# project (Mono: Debian has no .NET SDK).
var exampleProjects = []exampleProject{
	{Tenant: "tenant-a", Dir: "java-maven", Builder: kindworld.JavaBuilderImage, BuilderRepo: "builders/java:17-maven3.8", CacheKey: "java-builds",
		Restored: "maven repository restored from the runner cache", Source: "src/main/java/example/Greeter.java", Greeting: "hello from tenant-a (java, "},
	{Tenant: "tenant-b", Dir: "csharp-mono", Builder: kindworld.MonoBuilderImage, BuilderRepo: "builders/mono:6.8", CacheKey: "dotnet-builds",
		Restored: "restored from the package cache", Source: "src/Program.cs", Greeting: "hello from tenant-b (c#, "},
}

// profileProjects are the extra projects of a runner tier with runner profiles: tenant-a's dotnet profile builds the
// C# project (tagged tenant-a-dotnet), beside its java profile building the Maven project (tagged tenant-a).
var profileProjects = []exampleProject{
	{Tenant: "tenant-a", Profile: "dotnet", Dir: "csharp-mono", Builder: kindworld.MonoBuilderImage, BuilderRepo: "builders/mono:6.8", CacheKey: "dotnet-builds",
		Restored: "restored from the package cache", Source: "src/Program.cs", Greeting: "hello from tenant-a-dotnet (c#, ", Rename: [2]string{"tenant-b", "tenant-a-dotnet"}},
}

// profilesOverlay is the values file that gives a tenant its runner profiles in a runner tier with profiles.
const profilesOverlay = "values/%s-profiles.yaml"

// tenantProject is an example project created in the forge for its tenant, with the runner that serves it.
type tenantProject struct {
	exampleProject
	tn       tenants.Tenant
	project  *gitlab.Project
	runner   e2eRunner
	existing map[string]bool
	// profile is the runner profile whose runner serves the project (empty: the tenant has none).
	profile string
}

// e2eRunner is the tenant's runner as gkt runner create made it.
type e2eRunner struct {
	ID    int64
	Token string
}

// e2eSources are the e2e's values, as gkt runner reads a repository's (internal/runnerlife); with profiles, a
// tenant's profiles overlay is merged on top where it has one.
func e2eSources(profiles bool) runnerlife.Sources {
	src := runnerlife.Sources{Charts: filepath.Join(repo, "charts"), Bootstrap: defaultPlan, TenantValues: "values/%s.yaml"}
	if profiles {
		src.Overlays = []string{profilesOverlay}
	}
	return src
}

// tenantProfiles are the runner profiles a tenant's overlay gives it (nil: none).
func tenantProfiles(tenant string) (map[string]any, error) {
	raw, err := os.ReadFile(fmt.Sprintf(profilesOverlay, tenant))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var v map[string]any
	if err == nil {
		err = yaml.Unmarshal(raw, &v)
	}
	return v, err
}

// tokenPlan is where the tenant's runner token lives now (its namespace follows the platform's plan).
func tokenPlan(tn tenants.Tenant) runnerlife.Plan {
	return runnerlife.Plan{Tenant: tn.Name, Namespace: tn.Namespace, Secret: tn.Name + "-runner-token", Key: "runner-token"}
}

// createProjects creates each tenant's project and project runner (tagged with the tenant's name) and the Secrets a
// user creates before installing the chart: the runner token and, for a private CA, GitLab's CA.
func createProjects(ctx context.Context, cs kubernetes.Interface, f *forge, set *tenants.Set, run string, profiles bool) ([]*tenantProject, error) {
	var out []*tenantProject
	examples := exampleProjects
	if profiles {
		examples = append(slices.Clone(examples), profileProjects...)
	}
	for _, ex := range examples {
		tn, ok := set.Tenants[ex.Tenant]
		if !ok {
			return nil, fmt.Errorf("no tenant %s in the e2e tenants", ex.Tenant)
		}
		p, err := f.api.CreateProject(ctx, fmt.Sprintf("gkt-e2e-%s-%s-%s", ex.Tenant, ex.Dir, run))
		if err != nil {
			return nil, err
		}
		profile := ""
		if profiles {
			pv, err := tenantProfiles(tn.Name)
			if err != nil {
				return nil, err
			}
			if pv != nil {
				// the project's profile: its own, or the one carrying the tenant's own tag
				if profile = ex.Profile; profile == "" {
					profile = harness.ProfileWithTag(pv, tn.Name)
				}
			}
		}
		// the runner and its token Secret, as gkt runner create makes them (the e2e's values stand for tenants/)
		plan, err := runnerlife.PlanFor(e2eSources(profiles), tn.Name, profile, nil)
		if err != nil {
			return nil, err
		}
		if plan.Namespace != tn.Namespace || plan.Secret != tokenPlan(tn).Secret {
			return nil, fmt.Errorf("gkt runner's plan for %s (%s/%s) is not where the e2e installs it (%s/%s)", tn.Name, plan.Namespace, plan.Secret, tn.Namespace, tokenPlan(tn).Secret)
		}
		old, err := cs.CoreV1().Secrets(tn.Namespace).Get(ctx, plan.Secret, metav1.GetOptions{})
		if err == nil && old.Labels[runnerlife.ManagedByLabel] != runnerlife.ManagedBy {
			// a cluster from before gkt runner: the e2e's own hand-made Secret, which gkt runner rightly refuses
			logf("runner tier: deleting %s/%s, hand-made by an older e2e run, so that gkt runner create may write it", tn.Namespace, plan.Secret)
			if err := cs.CoreV1().Secrets(tn.Namespace).Delete(ctx, plan.Secret, metav1.DeleteOptions{}); err != nil {
				return nil, err
			}
		}
		env := runnerlife.Env{GitLab: f.api, GitLabURL: f.URL, Kube: cs, Log: func(format string, args ...any) { logf("gkt runner: "+format, args...) }}
		created, err := runnerlife.Create(ctx, env, plan, runnerlife.Target{Project: fmt.Sprint(p.ID)}, true)
		if err != nil {
			return nil, err
		}
		s, err := cs.CoreV1().Secrets(tn.Namespace).Get(ctx, plan.Secret, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		r := e2eRunner{ID: created.RunnerID, Token: string(s.Data[plan.Key])}
		if err := userSecrets(ctx, cs, f, tn, r, false); err != nil {
			return nil, err
		}
		// A manager already running from an earlier run holds the old token (it reads the Secret at start): restart
		// it, as `kubectl rollout restart` does after a token rotation.
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
		if _, err := cs.AppsV1().Deployments(tn.Namespace).Patch(ctx, tn.Name+"-runner", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		out = append(out, &tenantProject{exampleProject: ex, tn: tn, project: p, runner: r, existing: map[string]bool{}, profile: profile})
	}
	return out, nil
}

// userSecrets creates, in the tenant's namespace, the Secrets a user creates before installing the tenant chart: for
// a private CA, GitLab's CA, and with token (a tenant moved to another namespace by a mode change) the runner token
// Secret as gkt runner writes it.
func userSecrets(ctx context.Context, cs kubernetes.Interface, f *forge, tn tenants.Tenant, r e2eRunner, token bool) error {
	var secrets []*corev1.Secret
	if token {
		secrets = append(secrets, runnerlife.TokenSecret(tokenPlan(tn), f.URL, r.ID, r.Token, nil))
	}
	if len(f.CA) > 0 {
		secrets = append(secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitlab-ca"}, Data: map[string][]byte{"ca.crt": f.CA}})
	}
	for _, s := range secrets {
		_ = cs.CoreV1().Secrets(tn.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if _, err := cs.CoreV1().Secrets(tn.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// runnerValues are the tenant chart values of the runner tier on top of values/<tenant>.yaml: the manager on, GitLab
// where the forge is, and the images the world built. Everything else stays the example values.
// pull (GKT_E2E_MODE=pull, or auto where a registry answers) uses the official runner, helper and Kaniko images of the
// same versions instead of the ones built from source.
func runnerValues(f *forge, rw kindworld.RunnerWorld, ex exampleProject, pull bool, profiles map[string]any) map[string]any {
	gitlab := map[string]any{"url": f.URL, "egress": map[string]any{"to": f.Egress, "ports": f.Ports}}
	if len(f.CA) > 0 {
		gitlab["caSecret"] = "gitlab-ca"
	}
	runnerRepo, runnerTag, _ := strings.Cut(rw.RunnerImage(), ":")
	helperRepo, helperTag, _ := strings.Cut(rw.HelperImage(), ":")
	kaniko := rw.KanikoImage()
	if pull {
		runnerRepo, runnerTag, helperRepo, helperTag, kaniko = rw.UpstreamImages()
	}
	return render.MergeValues(map[string]any{
		"managerDisabled": false,
		"gitlab":          gitlab,
		"runner":          map[string]any{"image": map[string]any{"repository": runnerRepo, "tag": runnerTag}},
		"jobs": map[string]any{"image": kaniko, "allowedImages": []any{ex.Builder},
			"helper": map[string]any{"image": map[string]any{"repository": helperRepo, "tag": helperTag}}},
	}, profiles)
}

// pushBuilders pushes the builder images from the runner-tier archive to the destination registry (NodePort), where
// the projects' Dockerfiles take their FROM.
func pushBuilders(archive, nodeIP string) error {
	for _, ex := range append(slices.Clone(exampleProjects), profileProjects...) {
		dst, err := name.ParseReference(nodeIP+":30500/"+ex.BuilderRepo, name.Insecure)
		if err != nil {
			return err
		}
		if _, err := remote.Head(dst); err == nil {
			continue
		}
		tag, err := name.NewTag(ex.Builder)
		if err != nil {
			return err
		}
		img, err := tarball.ImageFromPath(archive, &tag)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", ex.Builder, archive, err)
		}
		logf("pushing %s to the destination registry as %s", ex.Builder, ex.BuilderRepo)
		if err := remote.Write(dst, img); err != nil {
			return err
		}
	}
	return nil
}

// jobPodSeen is a job pod the runner created, as last observed while its job ran.
type jobPodSeen struct {
	Pod          *corev1.Pod
	BuildStarted time.Time // the build container's start (seconds resolution)
}

// podWatch records the runner's job pods in a namespace by job id while a pipeline runs.
type podWatch struct {
	mu   sync.Mutex
	pods map[string]*jobPodSeen // job id → pod
	stop chan struct{}
	done chan struct{}
}

func watchJobPods(ctx context.Context, cs kubernetes.Interface, ns string) *podWatch {
	w := &podWatch{pods: map[string]*jobPodSeen{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job.runner.gitlab.com/pod"})
			if err == nil {
				w.mu.Lock()
				for i := range pods.Items {
					p := pods.Items[i].DeepCopy()
					id := p.Annotations["job.runner.gitlab.com/id"]
					seen := w.pods[id]
					if seen == nil {
						seen = &jobPodSeen{}
						w.pods[id] = seen
					}
					seen.Pod = p
					for _, st := range p.Status.ContainerStatuses {
						if st.Name == "build" && st.State.Running != nil && seen.BuildStarted.IsZero() {
							seen.BuildStarted = st.State.Running.StartedAt.Time
						}
					}
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Pod is the job's pod as last seen so far (nil: none yet).
func (w *podWatch) Pod(jobID int64) *jobPodSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pods[fmt.Sprint(jobID)]
}

// Stop ends the watch and returns the pods seen by job id.
func (w *podWatch) Stop() map[string]*jobPodSeen {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pods
}

// pipelineRun is one pipeline of an example project and what it left.
type pipelineRun struct {
	tp       *tenantProject
	Version  int
	SHA      string
	Pipeline *gitlab.Pipeline
	Jobs     []gitlab.Job
	Traces   map[string]string      // job name → trace (last run)
	Pods     map[string]*jobPodSeen // job id → pod
	Wall     time.Duration          // commit → pipeline finished
}

// job returns the last run of the named job.
func (r *pipelineRun) job(name string) *gitlab.Job {
	var out *gitlab.Job
	for i := range r.Jobs {
		if r.Jobs[i].Name == name {
			out = &r.Jobs[i]
		}
	}
	return out
}

// runPipeline commits version of the project (v1 creates the files, later versions change only the source code)
// and waits for its pipeline, recording the job pods the runner created.
func runPipeline(ctx context.Context, cs kubernetes.Interface, f *forge, tp *tenantProject, version int) (*pipelineRun, error) {
	files, err := pipelines.ProjectFiles(repo, tp.Dir, version)
	if err != nil {
		return nil, err
	}
	if from, to := tp.Rename[0], tp.Rename[1]; from != "" {
		for name, content := range files {
			files[name] = strings.ReplaceAll(content, from, to)
		}
	}
	if version > 1 {
		files = map[string]string{tp.Source: files[tp.Source]}
	}
	watch := watchJobPods(ctx, cs, tp.tn.Namespace)
	start := time.Now()
	sha, err := f.api.Commit(ctx, tp.project.ID, tp.project.DefaultBranch, fmt.Sprintf("version %d", version), files, tp.existing)
	if err != nil {
		watch.Stop()
		return nil, err
	}
	for p := range files {
		tp.existing[p] = true
	}
	run := &pipelineRun{tp: tp, Version: version, SHA: sha, Traces: map[string]string{}}
	pl, err := f.api.PipelineFor(ctx, tp.project.ID, sha, 2*time.Minute)
	if err == nil {
		pl, err = f.api.WaitPipeline(ctx, tp.project.ID, pl.ID, 30*time.Minute)
	}
	run.Wall = time.Since(start)
	run.Pods = watch.Stop()
	if err != nil {
		return run, err
	}
	run.Pipeline = pl
	if run.Jobs, err = f.api.Jobs(ctx, tp.project.ID, pl.ID); err != nil {
		return run, err
	}
	for _, j := range run.Jobs {
		tr, err := f.api.Trace(ctx, tp.project.ID, j.ID)
		if err != nil {
			return run, err
		}
		run.Traces[j.Name] = tr
		saveTrace(fmt.Sprintf("%s-v%d-%s-%d", strings.ReplaceAll(tp.key(), "/", "-"), version, j.Name, j.ID), []byte(tr))
	}
	return run, nil
}

// queuedToRunning is, per job, the time from GitLab queueing it to its build container running.
func (r *pipelineRun) queuedToRunning() []time.Duration {
	var out []time.Duration
	for _, j := range r.Jobs {
		seen := r.Pods[fmt.Sprint(j.ID)]
		if seen == nil || seen.BuildStarted.IsZero() || j.StartedAt == nil {
			continue
		}
		queued := j.StartedAt.Add(-time.Duration(j.QueuedDuration * float64(time.Second)))
		out = append(out, seen.BuildStarted.Sub(queued))
	}
	return out
}

// runnerObjects are the runner's job pods and job Secrets still in the namespace (the runner names both runner-…).
func runnerObjects(ctx context.Context, cs kubernetes.Interface, ns string) ([]string, error) {
	var out []string
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job.runner.gitlab.com/pod"})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		out = append(out, "pod/"+p.Name)
	}
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, s := range secrets.Items {
		if strings.HasPrefix(s.Name, "runner-") {
			out = append(out, "secret/"+s.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitNoRunnerObjects waits up to timeout for the namespace to hold no job pod or job Secret, and returns what is
// still there then, from a listing of its own (a listing cut short by the wait's deadline never counts as empty).
func waitNoRunnerObjects(ctx context.Context, cs kubernetes.Interface, ns string, timeout time.Duration) ([]string, error) {
	_ = wait.For(ctx, ns+"'s job pods and Secrets to be gone", 2*time.Second, timeout, func(ctx context.Context) (bool, error) {
		left, err := runnerObjects(ctx, cs, ns)
		return err == nil && len(left) == 0, wait.Retry(err)
	})
	return runnerObjects(ctx, cs, ns)
}

// setupRunnerTier builds the runner tier's images from the source tarballs, installs the platform with every
// tenant's manager enabled (token Secret created first, as a user does), and creates the projects and runners in
// the forge: a real GitLab when GITLAB_URL and GITLAB_TOKEN are set, else the stand-in in the cluster.
func setupRunnerTier(t *testing.T, profiles bool) *runnerTier {
	t.Helper()
	real, err := realGitLab()
	if err != nil {
		t.Fatal(err)
	}
	rw, err := kindworld.LocateRunnerSources(thirdparty.DefaultDir(repo))
	if err != nil {
		t.Fatalf("runner tier: %v: the runner, its helper and Kaniko are built from these source tarballs (see docs/testing.md)", err)
	}
	rt := &runnerTier{rw: rw, run: fmt.Sprint(time.Now().Unix()), profiles: profiles}
	pull := false
	setupStart := time.Now()
	var inside time.Duration // the runner tier's own steps within the platform's set-up
	rt.p = setupPlatform(t, platformOptions{
		BeforeTenants: func(ctx context.Context, p *platform) error {
			// The stand-in and the builders are always built here; the runner, helper and Kaniko too, for the key
			// checker's source and for the build mode.
			imagesStart := time.Now()
			if rt.archive, err = p.w.LoadRunnerTier(rw, repo); err != nil {
				return err
			}
			rt.steps.add("runner-tier images (runner, helper, Kaniko, stand-in, builders): built or reused, loaded", time.Since(imagesStart))
			forgeStart := time.Now()
			defer func() {
				rt.steps.add("forge, projects, runners and token Secrets (gkt runner create)", time.Since(forgeStart))
				inside = time.Since(imagesStart)
			}()
			if pull = p.w.ResolveMode() == "pull"; pull {
				logf("runner tier: pull mode: the official gitlab-runner %s, helper and Kaniko %s images", rw.Runner.Version, rw.Kaniko.Version)
			}
			if rt.f = real; rt.f == nil {
				if rt.f, err = deployStandin(ctx, p.cs, p.nodeIP); err != nil {
					return err
				}
			}
			logf("forge: %s (stand-in: %t)", rt.f.URL, rt.f.Standin)
			all, err := createProjects(ctx, p.cs, rt.f, p.set, rt.run, profiles)
			for _, tp := range all {
				if tp.key() == tp.tn.Name {
					rt.projects = append(rt.projects, tp)
				} else {
					rt.extra = append(rt.extra, tp)
				}
			}
			return err
		},
		TenantValues: func(tenant string) map[string]any {
			for _, ex := range exampleProjects {
				if ex.Tenant == tenant {
					return runnerValues(rt.f, rw, ex, pull, rt.profileValues(t, tenant))
				}
			}
			return nil
		},
	})
	rt.pull = pull
	rt.steps.add("cluster and platform: node image, kind, Cilium, MinIO, tenant-bootstrap, both tenants' charts", time.Since(setupStart)-inside)
	if !rt.f.Standin {
		// A real GitLab keeps what the test created: delete the projects and runners afterwards. (The stand-in is
		// left as it is, so `make demo` can be looked at.)
		t.Cleanup(func() {
			for _, tp := range append(slices.Clone(rt.projects), rt.extra...) {
				_ = rt.f.api.DeleteRunner(context.Background(), tp.runner.ID)
				_ = rt.f.api.DeleteProject(context.Background(), tp.project.ID)
			}
		})
	}
	pushStart := time.Now()
	if err := pushBuilders(rt.archive, rt.p.nodeIP); err != nil {
		t.Fatal(err)
	}
	rt.steps.since("builder images pushed to the destination registry", pushStart)
	return rt
}
