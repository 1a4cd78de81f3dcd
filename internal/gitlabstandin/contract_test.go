package gitlabstandin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// entity is the set of keys GitLab's API may send for one answer (or a nested object of it), from GitLab's source.
type entity struct {
	source string
	keys   []string
	nested map[string]*entity // a key whose value is an object, or a list of objects
}

func keys(s string) []string { return strings.Fields(s) }

// GitLab's entities (gitlabhq/gitlabhq, lib/api/entities). Each row lists every key GitLab may send; the stand-in
// may send fewer, never another.
var (
	pipelineBasicEntity = &entity{source: "lib/api/entities/ci/pipeline_basic.rb",
		keys: keys("id iid project_id sha ref status source created_at updated_at web_url name")}
	pipelineEntity = &entity{source: "lib/api/entities/ci/pipeline.rb (PipelineBasic + details)",
		keys: append(keys("before_sha tag yaml_errors user started_at finished_at committed_at duration queued_duration coverage detailed_status archived"), pipelineBasicEntity.keys...)}
	jobEntity = &entity{source: "lib/api/entities/ci/job.rb, job_basic.rb",
		keys: keys("id status stage name ref tag coverage allow_failure created_at started_at finished_at erased_at duration queued_duration user commit pipeline failure_reason web_url project artifacts_file artifacts runner runner_manager artifacts_expire_at archived tag_list"),
		nested: map[string]*entity{
			"pipeline": pipelineBasicEntity,
			"runner":   runnerEntity,
		}}
	runnerEntity  = &entity{source: "lib/api/entities/ci/runner.rb", keys: keys("id description ip_address active paused is_shared runner_type name online status")}
	projectEntity = &entity{source: "lib/api/entities/project.rb, basic_project_details.rb, project_identity.rb",
		keys:   keys("id description name name_with_namespace path path_with_namespace created_at default_branch tag_list topics ssh_url_to_repo http_url_to_repo web_url readme_url forks_count avatar_url star_count last_activity_at namespace visibility"),
		nested: map[string]*entity{"namespace": {source: "lib/api/entities/namespace_basic.rb", keys: keys("id name path kind full_path parent_id avatar_url web_url")}}}
	commitEntity = &entity{source: "lib/api/entities/commit_detail.rb, commit.rb",
		keys: keys("id short_id created_at parent_ids title message author_name author_email authored_date committer_name committer_email committed_date trailers extended_trailers web_url stats status project_id last_pipeline")}
	runnerTokenEntity   = &entity{source: "lib/api/entities/ci/runner_registration_details.rb", keys: keys("id token token_expires_at")}
	resetTokenEntity    = &entity{source: "lib/api/entities/ci/reset_token_result.rb", keys: keys("token token_expires_at")}
	runnerDetailsEntity = &entity{source: "lib/api/entities/ci/runner_details.rb",
		keys: keys("id description ip_address active paused is_shared runner_type name online status tag_list run_untagged locked maximum_timeout access_level version revision platform architecture contacted_at maintenance_note projects groups created_at created_by")}
	settingsEntity = &entity{source: "lib/api/entities/application_setting.rb (every attribute of ApplicationSetting)", keys: keys("runner_token_expiration_interval")}
	// The job payload of POST /jobs/request: lib/api/entities/ci/job_request/response.rb and its parts.
	jobPayloadEntity = &entity{source: "lib/api/entities/ci/job_request/response.rb",
		keys: keys("id token allow_git_fetch job_info git_info runner_info variables steps hooks image services artifacts cache credentials dependencies features secrets run policy_options"),
		nested: map[string]*entity{
			"job_info":    {source: "job_request/job_info.rb", keys: keys("id name stage project_id project_name time_in_queue_seconds project_jobs_running_on_instance_runners_count queue_size queue_depth")},
			"git_info":    {source: "job_request/git_info.rb", keys: keys("repo_url ref sha before_sha ref_type refspecs depth repo_object_format")},
			"runner_info": {source: "job_request/runner_info.rb", keys: keys("timeout runner_session_url")},
			"variables":   {source: "Ci::BuildRunnerPresenter#runner_variables (Gitlab::Ci::Variables::Collection::Item#to_runner_variable)", keys: keys("key value public file masked raw")},
			"steps":       {source: "job_request/step.rb", keys: keys("name script timeout when allow_failure")},
			"image":       {source: "job_request/image.rb", keys: keys("name entrypoint ports executor_opts pull_policy")},
			"services":    {source: "job_request/service.rb", keys: keys("name entrypoint ports alias command variables executor_opts pull_policy")},
			"cache":       {source: "job_request/cache.rb", keys: keys("key untracked paths policy when fallback_keys")},
			"features":    {source: "Ci::Build#features (with token_mask_prefixes)", keys: keys("trace_sections token_mask_prefixes failure_reasons")},
		}}
)

// runnerReads are the job payload's keys gitlab-runner 17.9.3 needs to run a job (common/network.go JobResponse and
// its parts, as its executors use them): the stand-in must send each.
var runnerReads = map[string][]string{
	"":            keys("id token job_info git_info runner_info variables steps features"),
	"job_info":    keys("id name stage project_id project_name"),
	"git_info":    keys("repo_url ref sha before_sha ref_type refspecs depth"),
	"runner_info": keys("timeout"),
	"steps":       keys("name script timeout when allow_failure"),
	"variables":   keys("key value public file masked raw"),
	"cache":       keys("key paths policy when untracked"),
	"features":    keys("trace_sections failure_reasons"),
}

// conform reports every key of v (an object or a list of objects) that GitLab's entity e does not have.
func conform(report func(string), path string, v any, e *entity) {
	switch x := v.(type) {
	case []any:
		for i, it := range x {
			conform(report, fmt.Sprintf("%s[%d]", path, i), it, e)
		}
	case map[string]any:
		for k, val := range x {
			if !slices.Contains(e.keys, k) {
				report(fmt.Sprintf("%s.%s is not in GitLab's entity (%s)", path, k, e.source))
				continue
			}
			if n, ok := e.nested[k]; ok && val != nil {
				conform(report, path+"."+k, val, n)
			}
		}
	default:
		report(fmt.Sprintf("%s: %T is not an object", path, v))
	}
}

// rest is one REST call with the admin token; it returns the decoded JSON.
func (w *world) rest(method, path string, body any) any {
	w.t.Helper()
	code, _, raw := w.runnerCall(method, path, map[string]string{"PRIVATE-TOKEN": adminToken, "Content-Type": "application/json"}, body)
	if code/100 != 2 {
		w.t.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

// TestStandinAnswersAreGitLabsShape: the keys of every REST answer and of the job payload the stand-in sends are a
// subset of GitLab's entity for that call (a key-set comparison: a JSON decoder would ignore unknown keys), and the
// job payload has every key gitlab-runner 17.9.3 reads.
func TestStandinAnswersAreGitLabsShape(t *testing.T) {
	w := newWorld(t, time.Second)
	ctx := context.Background()
	project := w.rest("POST", "/projects", map[string]any{"name": "contract", "path": "contract"}).(map[string]any)
	pid := int64(project["id"].(float64))
	runnerAnswer := w.rest("POST", "/user/runners", map[string]any{"runner_type": "project_type", "project_id": pid, "tag_list": []string{"t"}}).(map[string]any)
	token := runnerAnswer["token"].(string)
	yml := "stages: [a]\nvariables: {G: {value: '$X', expand: false}}\njob:\n  stage: a\n  tags: [t]\n  image: {name: 'alpine:3', entrypoint: ['']}\n  cache: {key: k, paths: [x]}\n  script: [echo hi]\n  after_script: [echo bye]\n  timeout: 10m\n"
	commit := w.rest("POST", fmt.Sprintf("/projects/%d/repository/commits", pid), map[string]any{"branch": "main", "commit_message": "c",
		"actions": []map[string]string{{"action": "create", "file_path": CIFile, "content": yml}}}).(map[string]any)
	pl, err := w.api.PipelineFor(ctx, pid, commit["id"].(string), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code, _, payload := w.runnerCall("POST", "/jobs/request", nil, map[string]any{"token": token, "info": map[string]any{"name": "gitlab-runner", "version": "17.9.3",
		"features": map[string]any{"cancel_gracefully": true}}})
	if code != http.StatusCreated {
		t.Fatalf("jobs/request: %d %s", code, payload)
	}
	var job map[string]any
	if err := json.Unmarshal(payload, &job); err != nil {
		t.Fatal(err)
	}
	verify := map[string]any{}
	{
		code, _, raw := w.runnerCall("POST", "/runners/verify", map[string]string{"Content-Type": "application/json"}, map[string]any{"token": token})
		if code != http.StatusOK {
			t.Fatalf("runners/verify: %d %s", code, raw)
		}
		_ = json.Unmarshal(raw, &verify)
	}
	selfReset := map[string]any{} // the runner rotating its own token (after verify and jobs/request, which use it)
	if code, _, raw := w.runnerCall("POST", "/runners/reset_authentication_token", map[string]string{"Content-Type": "application/json"}, map[string]any{"token": token}); code != http.StatusCreated {
		t.Fatalf("runners/reset_authentication_token: %d %s", code, raw)
	} else {
		_ = json.Unmarshal(raw, &selfReset)
	}
	answers := []struct {
		call   string
		answer any
		entity *entity
	}{
		{"POST /projects", project, projectEntity},
		{"POST /user/runners", runnerAnswer, runnerTokenEntity},
		{"POST /runners/verify", verify, runnerTokenEntity},
		{"POST /projects/:id/repository/commits", commit, commitEntity},
		{"GET /projects/:id/pipelines", w.rest("GET", fmt.Sprintf("/projects/%d/pipelines", pid), nil), pipelineBasicEntity},
		{"GET /projects/:id/pipelines/:pid", w.rest("GET", fmt.Sprintf("/projects/%d/pipelines/%d", pid, pl.ID), nil), pipelineEntity},
		{"GET /projects/:id/pipelines/:pid/jobs", w.rest("GET", fmt.Sprintf("/projects/%d/pipelines/%d/jobs?include_retried=true", pid, pl.ID), nil), jobEntity},
		{"POST /runners/:id/reset_authentication_token", w.rest("POST", fmt.Sprintf("/runners/%d/reset_authentication_token", int64(runnerAnswer["id"].(float64))), nil), resetTokenEntity},
		{"POST /jobs/request (the job payload)", job, jobPayloadEntity},
		{"POST /runners/reset_authentication_token (runner API)", selfReset, resetTokenEntity},
		{"GET /projects/:id/runners", w.rest("GET", fmt.Sprintf("/projects/%d/runners", pid), nil), runnerEntity},
		{"GET /runners/:id", w.rest("GET", fmt.Sprintf("/runners/%d", int64(runnerAnswer["id"].(float64))), nil), runnerDetailsEntity},
		{"PUT /runners/:id", w.rest("PUT", fmt.Sprintf("/runners/%d", int64(runnerAnswer["id"].(float64))), map[string]any{"paused": false}), runnerDetailsEntity},
		{"PUT /projects/:id", w.rest("PUT", fmt.Sprintf("/projects/%d", pid), map[string]any{"auto_cancel_pending_pipelines": "enabled"}), projectEntity},
		{"PUT /application/settings", w.rest("PUT", "/application/settings", map[string]any{"runner_token_expiration_interval": 0}), settingsEntity},
	}
	for _, a := range answers {
		t.Run(a.call, func(t *testing.T) {
			t.Logf("GitLab: %s", a.entity.source)
			conform(func(s string) { t.Error(s) }, a.call, a.answer, a.entity)
		})
	}
	t.Run("the job payload has every key gitlab-runner 17.9.3 reads", func(t *testing.T) {
		for path, want := range runnerReads {
			var objs []map[string]any
			switch v := job[path].(type) {
			case map[string]any:
				objs = []map[string]any{v}
			case []any:
				for _, it := range v {
					objs = append(objs, it.(map[string]any))
				}
			}
			if path == "" {
				objs = []map[string]any{job}
			}
			if len(objs) == 0 {
				t.Errorf("%s: missing", path)
			}
			for _, o := range objs {
				for _, k := range want {
					if _, ok := o[k]; !ok {
						t.Errorf("job payload %s: key %q missing", path, k)
					}
				}
			}
		}
	})
	t.Run("a shape outside GitLab's entity is caught", func(t *testing.T) {
		// what the stand-in sent before 0.3: retried on jobs, yaml_errors in the list's pipelines
		bad := []any{map[string]any{"id": 1.0, "retried": true, "pipeline": map[string]any{"id": 1.0, "yaml_errors": "x"}}}
		var found []string
		conform(func(s string) { found = append(found, strings.Fields(s)[0]) }, "job", bad, jobEntity)
		slices.Sort(found)
		if strings.Join(found, ",") != "job[0].pipeline.yaml_errors,job[0].retried" {
			t.Errorf("found %v, want retried and the list entity's yaml_errors", found)
		}
	})
}
