package userns

import (
	"strings"
	"testing"
)

// What a job shows with and without a user namespace, as seen live on the e2e cluster (containerd 2.3, runc 1.4).
func TestChecksPassInAUserNamespaceAndEachFailsOnTheHostsUIDs(t *testing.T) {
	cases := []struct {
		name string
		p    Probe
		want []string // per check: "" passes, else a substring of its error
	}{
		{"hostUsers: false", Probe{UIDMap: "         0 1727397888      65536\n", NodeUID: 1727397888, FileOwner: 1727397888}, []string{"", "", ""}},
		{"hostUsers: false, helper UID 1000", Probe{UIDMap: "0 1727397888 65536", NodeUID: 1727398888, FileOwner: 1727397888}, []string{"", "", ""}},
		{"host's user namespace", Probe{UIDMap: "         0          0 4294967295\n", NodeUID: 0, FileOwner: 0}, []string{"UID 0 on the node", "UID 0", "UID 0"}},
		{"mapped, but the process is outside the range", Probe{UIDMap: "0 1727397888 65536", NodeUID: 1727397888 + 65536, FileOwner: 1727397888}, []string{"", "outside the job's range", ""}},
		{"mapped, but the file is root's on the node", Probe{UIDMap: "0 1727397888 65536", NodeUID: 1727397888, FileOwner: 0}, []string{"", "", "UID 0 (root)"}},
		{"garbage uid_map", Probe{UIDMap: "zero one two", NodeUID: 1, FileOwner: 1}, []string{"uid_map line", "no mapped range", "no mapped range"}},
		{"UID 0 not mapped", Probe{UIDMap: "1000 1727397888 1", NodeUID: 1727397888, FileOwner: 1727397888}, []string{"does not map UID 0", "no mapped range", "no mapped range"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Checks(tc.p)
			if len(got) != len(tc.want) {
				t.Fatalf("want %d checks, got %d", len(tc.want), len(got))
			}
			for i, c := range got {
				switch {
				case tc.want[i] == "" && c.Err != nil:
					t.Errorf("%s: want pass, got %v", c.Name, c.Err)
				case tc.want[i] != "" && (c.Err == nil || !strings.Contains(c.Err.Error(), tc.want[i])):
					t.Errorf("%s: want an error containing %q, got %v", c.Name, tc.want[i], c.Err)
				}
			}
		})
	}
}

func TestParseUIDMapSeveralRanges(t *testing.T) {
	m, err := ParseUIDMap("0 100000 1\n1 165536 65535\n")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := Root(m)
	if !ok || r.Outside != 100000 || r.Length != 1 || len(m) != 2 || !m[1].Contains(165536+65534) || m[1].Contains(165536+65535) {
		t.Fatalf("got %v", m)
	}
}
