package userns

import (
	"fmt"
	"strconv"
	"strings"
)

// Range is one line of a uid_map: Length IDs from Inside (in the namespace) map to Outside (its parent's).
type Range struct {
	Inside, Outside, Length uint64
}

// Contains reports whether a host (outside) UID is in the range.
func (r Range) Contains(uid uint64) bool { return uid >= r.Outside && uid-r.Outside < r.Length }

func (r Range) String() string { return fmt.Sprintf("%d->%d/%d", r.Inside, r.Outside, r.Length) }

// ParseUIDMap reads /proc/<pid>/uid_map.
func ParseUIDMap(s string) ([]Range, error) {
	var out []Range
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("uid_map line %q: want 3 fields", line)
		}
		var n [3]uint64
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("uid_map line %q: %w", line, err)
			}
			n[i] = v
		}
		out = append(out, Range{n[0], n[1], n[2]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty uid_map")
	}
	return out, nil
}

// Root is the range that holds UID 0 of the namespace.
func Root(m []Range) (Range, bool) {
	for _, r := range m {
		if r.Inside == 0 {
			return r, true
		}
	}
	return Range{}, false
}

// Probe is what one job showed: its uid_map from inside, and from the node the UID of its build process and the
// owner of the file it created as root.
type Probe struct {
	UIDMap    string // /proc/self/uid_map as the job printed it
	NodeUID   uint64 // real UID of the build process in the node's /proc/<pid>/status
	FileOwner uint64 // owner, as the node sees it, of the file the build created as root
}

// Check is one of the three checks and its outcome on a probe.
type Check struct {
	Name string
	Err  error // nil: the probe shows a user namespace here
}

// Checks decides each check on a probe. On a job in a user namespace all pass; on a job on the host's UIDs each fails.
func Checks(p Probe) []Check {
	m, err := ParseUIDMap(p.UIDMap)
	root, ok := Root(m)
	mapped := func() error {
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("uid_map %q does not map UID 0", p.UIDMap)
		case root.Outside == 0:
			return fmt.Errorf("UID 0 in the job is UID 0 on the node (uid_map %s: the host's user namespace)", root)
		}
		return nil
	}
	inRange := func(what string, uid uint64) error {
		if e := mapped(); e != nil {
			return fmt.Errorf("%s is UID %d on the node, and the job has no mapped range: %w", what, uid, e)
		}
		if uid == 0 {
			return fmt.Errorf("%s is UID 0 (root) on the node", what)
		}
		if !root.Contains(uid) {
			return fmt.Errorf("%s is UID %d on the node, outside the job's range %s", what, uid, root)
		}
		return nil
	}
	return []Check{
		{"uid-map: UID 0 in the job maps to a non-zero host range", mapped()},
		{"node-uid: the build process runs on the node as a UID of that range", inRange("the build process", p.NodeUID)},
		{"file-owner: a file the build created as root is owned on the node by a UID of that range", inRange("the file the build created as root", p.FileOwner)},
	}
}

// Failed counts the checks that failed.
func Failed(cs []Check) int {
	n := 0
	for _, c := range cs {
		if c.Err != nil {
			n++
		}
	}
	return n
}
