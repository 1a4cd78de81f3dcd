package test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// recipeUnderTest is the line of make target's recipe (as `make -n` expands it) that runs the e2e suite, with its
// continuation lines, and `go test …` replaced by producer: the filters and the exit-status handling are the
// Makefile's own.
func recipeUnderTest(t *testing.T, target, producer string) string {
	t.Helper()
	out, err := exec.Command("make", "-n", "-C", "..", target).Output()
	if err != nil {
		t.Fatalf("make -n %s: %v", target, err)
	}
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if !strings.Contains(l, "test -tags e2e -count=1") {
			continue
		}
		recipe := l
		for j := i; strings.HasSuffix(strings.TrimSpace(lines[j]), `\`) && j+1 < len(lines); j++ {
			recipe += "\n" + lines[j+1]
		}
		at := strings.Index(recipe, " 2>&1 |")
		if at < 0 {
			t.Fatalf("%s: the recipe does not pipe the test's output: %s", target, recipe)
		}
		return producer + recipe[at:]
	}
	t.Fatalf("make -n %s runs no e2e test:\n%s", target, out)
	return ""
}

// runUnderPTY runs script with bash under a pseudo-terminal (what a person at a terminal has) in dir. The producer
// prints its first progress line and waits until the test has seen it on the terminal (seen is created), at most
// its cap, then prints a second line saying which came first, and ends. It reports whether the first line reached
// the terminal while the producer was still waiting for it (no clock is compared).
func runUnderPTY(t *testing.T, dir, script, seen string) (beforeEnd bool, transcript string) {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		b.WriteString(line + "\n")
		if strings.Contains(line, "progress one") {
			if err := os.WriteFile(seen, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-done
	return strings.Contains(b.String(), "progress two (released)"), b.String()
}

// TestE2ETargetsShowProgressAsItHappens: under a pseudo-terminal, the first progress line of each e2e make target
// reaches the screen while the command is still running (each filter of the recipe is line-buffered). The control
// runs the same recipe with a plain grep and sees the line only at the end, so the check can fail.
func TestE2ETargetsShowProgressAsItHappens(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed to read the Makefile's recipes (make -n)")
	}
	for _, target := range []string{"demo", "e2e", "e2e-runner", "e2e-hostile", "e2e-modes", "e2e-faults", "e2e-upgrade"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "_out/e2e"), 0o755); err != nil {
				t.Fatal(err)
			}
			seen := filepath.Join(dir, "seen")
			producer := fmt.Sprintf(`{ echo "[e2e     1s] progress one"; i=0; while [ ! -e %[1]s ] && [ $i -lt %[2]d ]; do sleep 0.1; i=$((i+1)); done; if [ -e %[1]s ]; then echo "[e2e     2s] progress two (released)"; else echo "[e2e     2s] progress two (timed out)"; fi; }`, seen, 600)
			script := recipeUnderTest(t, target, producer)
			beforeEnd, transcript := runUnderPTY(t, dir, script, seen)
			if !beforeEnd {
				t.Errorf("make %s: the first progress line did not reach the terminal before the command ended:\n%s", target, transcript)
			}
			if target != "demo" {
				return
			}
			// the control: the same recipe with grep's default buffering into a pipe
			control := strings.ReplaceAll(script, "grep --line-buffered", "grep")
			if control == script {
				t.Fatal("the recipe has no line-buffered grep to take away")
			}
			short := strings.Replace(control, "-lt 600", "-lt 30", 1)
			if err := os.Remove(seen); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if beforeEnd, transcript := runUnderPTY(t, dir, short, seen); beforeEnd {
				t.Errorf("control: with a block-buffered grep the first line still arrived before the end, so this check cannot fail:\n%s", transcript)
			}
		})
	}
}
