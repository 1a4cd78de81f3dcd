package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunnerLifecycleCommandsRefuseBadInput: gkt runner create and rotate say what is missing before they touch
// GitLab or a cluster (the lifecycle itself is tested in internal/runnerlife against the stand-in).
func TestRunnerLifecycleCommandsRefuseBadInput(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no GitLab URL", map[string]string{"GITLAB_URL": "", "GITLAB_TOKEN": ""}, []string{"runner", "create", "tenant-a", "--project", "g/p", "--repo", "../.."}, "no GitLab URL: set GITLAB_URL or --gitlab-url"},
		{"no GitLab token", map[string]string{"GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": ""}, []string{"runner", "rotate", "tenant-a", "--repo", "../.."}, "no GitLab token: set GITLAB_TOKEN"},
		{"a tenant that does not exist", map[string]string{"GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "glpat-x"}, []string{"runner", "create", "tenant-zz", "--project", "g/p", "--repo", "../.."}, `tenant "tenant-zz" is not in`},
		{"a CA file that does not exist", map[string]string{"GITLAB_URL": "https://gitlab.example.com", "GITLAB_TOKEN": "glpat-x"}, []string{"runner", "create", "tenant-a", "--project", "g/p", "--repo", "../..", "--gitlab-ca", "/nonexistent.pem"}, "--gitlab-ca"},
		{"no tenant named", map[string]string{}, []string{"runner", "create"}, "accepts 1 arg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			cmd := New(&out, &errOut)
			cmd.SetArgs(c.args)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
