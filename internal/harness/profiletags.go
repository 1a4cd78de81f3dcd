package harness

import (
	"fmt"
	"slices"
	"strings"
)

// ProfileTagCheck is the name of the check in findings.
const ProfileTagCheck = "runner profile tag of another tenant"

// ProfileTagFindings refuses a runner profile tag (values profiles.<name>.tags) that is another tenant's: its name
// (the tag gkt runner create gives a tenant's single runner) or a tag of one of its profiles. GitLab hands a job to
// any runner of the project whose tags hold the job's, so a tenant's projects must not be able to name another
// tenant's runners by tag; the chart alone sees one tenant and checks its own profiles (no tag twice). values are each
// tenant's values (release name → values); the tenant is tenant.name or the release name.
func ProfileTagFindings(name string, values map[string]map[string]any) []InstallFinding {
	owners := map[string][]string{} // tag → "tenant X's name" / "tenant X's profile p"
	tenantOf := map[string]string{}
	for _, t := range sortedKeys(values) {
		tenant := t
		if tv, ok := values[t]["tenant"].(map[string]any); ok {
			if n, _ := tv["name"].(string); n != "" {
				tenant = n
			}
		}
		tenantOf[t] = tenant
		owners[tenant] = append(owners[tenant], "tenant "+tenant+"'s name (its single runner's tag)")
		for _, p := range ProfileNames(values[t]) {
			for _, tag := range ProfileTags(values[t], p) {
				owners[tag] = append(owners[tag], fmt.Sprintf("tenant %s's profile %s", tenant, p))
			}
		}
	}
	var out []InstallFinding
	for _, t := range sortedKeys(values) {
		tenant := tenantOf[t]
		for _, p := range ProfileNames(values[t]) {
			for _, tag := range ProfileTags(values[t], p) {
				var others []string
				for _, o := range owners[tag] {
					if !strings.HasPrefix(o, "tenant "+tenant+"'s ") {
						others = append(others, o)
					}
				}
				if len(others) == 0 {
					continue
				}
				out = append(out, InstallFinding{Finding: Finding{Permutation: name, Object: "gitlab-kaniko-tenant/" + t + " values", Check: ProfileTagCheck, Tenant: t,
					Message: fmt.Sprintf("profiles.%s.tags has %q, which is %s: a job tagged %q would be meant for two tenants' runners; give the profile a tag of its own tenant (e.g. %s-%s)", p, tag, strings.Join(others, " and "), tag, tenant, p)},
					CrossTenant: true})
			}
		}
	}
	return out
}

// ProfileNames are the runner profiles (values `profiles`) of a tenant's chart values, sorted; none without profiles.
func ProfileNames(v map[string]any) []string {
	profiles, _ := v["profiles"].(map[string]any)
	var out []string
	for p := range profiles {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// ProfileTags are a runner profile's GitLab tags as the tenant's chart values give them.
func ProfileTags(v map[string]any, profile string) []string {
	profiles, _ := v["profiles"].(map[string]any)
	p, _ := profiles[profile].(map[string]any)
	raw, _ := p["tags"].([]any)
	var out []string
	for _, t := range raw {
		out = append(out, fmt.Sprint(t))
	}
	return out
}

// ProfileWithTag is the runner profile of a tenant's chart values whose tags hold tag ("" when none does).
func ProfileWithTag(v map[string]any, tag string) string {
	for _, p := range ProfileNames(v) {
		if slices.Contains(ProfileTags(v, p), tag) {
			return p
		}
	}
	return ""
}
