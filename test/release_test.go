package test

import (
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/versions"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/images"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

type chartMeta struct {
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	Annotations map[string]string `json:"annotations"`
}

func readChartMeta(t *testing.T, dir string) chartMeta {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`)

// TestChartMetadataInSync: SemVer versions, the CHANGELOG's newest section is this version and matches
// artifacthub.io/changes, and artifacthub.io/images lists exactly the images the chart renders with its defaults.
func TestChartMetadataInSync(t *testing.T) {
	for _, dir := range []string{tenantChart, bootstrapChart} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := readChartMeta(t, dir)
			if !semver.MatchString(m.Version) {
				t.Errorf("version %q is not SemVer", m.Version)
			}
			log, err := os.ReadFile(filepath.Join(dir, "CHANGELOG.md"))
			if err != nil {
				t.Fatal(err)
			}
			sections := regexp.MustCompile(`(?m)^## (\S+)\n((?:- .*\n)+)`).FindAllStringSubmatch(string(log), -1)
			if len(sections) == 0 || sections[0][1] != m.Version {
				t.Fatalf("CHANGELOG.md's newest section must be ## %s", m.Version)
			}
			var changes []struct{ Kind, Description string }
			if err := yaml.Unmarshal([]byte(m.Annotations["artifacthub.io/changes"]), &changes); err != nil {
				t.Fatal(err)
			}
			var fromLog []string
			for _, l := range strings.Split(strings.TrimSpace(sections[0][2]), "\n") {
				fromLog = append(fromLog, strings.TrimPrefix(l, "- "))
			}
			var fromAnn []string
			for _, c := range changes {
				fromAnn = append(fromAnn, c.Kind+": "+c.Description)
			}
			if strings.Join(fromLog, "\n") != strings.Join(fromAnn, "\n") {
				t.Errorf("artifacthub.io/changes %q differs from CHANGELOG %s %q", fromAnn, m.Version, fromLog)
			}
			var ann []struct{ Name, Image string }
			if err := yaml.Unmarshal([]byte(m.Annotations["artifacthub.io/images"]), &ann); err != nil {
				t.Fatal(err)
			}
			var annotated, rendered []string
			for _, a := range ann {
				annotated = append(annotated, a.Image)
			}
			if filepath.Base(dir) == "gitlab-kaniko-tenant" {
				c, err := render.Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				imgs, err := images.List(c, map[string]any{}, "tenant")
				if err != nil {
					t.Fatal(err)
				}
				for _, im := range imgs {
					rendered = append(rendered, im.Ref)
				}
			}
			sort.Strings(annotated)
			sort.Strings(rendered)
			if strings.Join(annotated, "\n") != strings.Join(rendered, "\n") {
				t.Errorf("artifacthub.io/images\n%s\ndiffers from the images the chart renders\n%s", strings.Join(annotated, "\n"), strings.Join(rendered, "\n"))
			}
			if filepath.Base(dir) == "gitlab-kaniko-tenant" && !strings.Contains(strings.Join(rendered, " "), "alpine-v"+m.AppVersion) {
				t.Errorf("appVersion %s must be the runner version the chart deploys", m.AppVersion)
			}
			if filepath.Base(dir) == "gitlab-kaniko-tenant" && m.AppVersion != versions.ChartRunner {
				t.Errorf("appVersion %s differs from versions.ChartRunner %s (the e2e's helper stand-in tag)", m.AppVersion, versions.ChartRunner)
			}
		})
	}
}
