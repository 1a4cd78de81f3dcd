package cachedir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// entryFiles is what a test writer puts into an entry, slowly enough that unsynchronised writers overlap.
const entryFiles = 40

// fillSlowly writes entryFiles files, pausing between them, and counts its call in counter (one line per fill).
func fillSlowly(tmp, counter string) error {
	for i := range entryFiles {
		if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("f%02d", i)), []byte(strconv.Itoa(i)), 0o644); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	f, err := os.OpenFile(counter, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, os.Getpid())
	return err
}

// readEntry fails unless the entry holds every file with its content: what a reader of a complete entry relies on.
func readEntry(dir string) error {
	for i := range entryFiles {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)))
		if err != nil {
			return fmt.Errorf("reading a complete entry: %w", err)
		}
		if string(b) != strconv.Itoa(i) {
			return fmt.Errorf("f%02d holds %q", i, b)
		}
	}
	return nil
}

// TestMain lets the test binary act as another process filling the cache (the way `go test ./...` runs several
// test binaries against one GKT_CACHE_DIR).
func TestMain(m *testing.M) {
	if entry := os.Getenv("GKT_CACHEDIR_TEST_FILL"); entry != "" {
		counter := os.Getenv("GKT_CACHEDIR_TEST_COUNTER")
		_, err := Dir(entry, nil, func(tmp string) error {
			if os.Getenv("GKT_CACHEDIR_TEST_HANG") != "" {
				_ = os.WriteFile(filepath.Join(tmp, "f00"), []byte("0"), 0o644)
				fmt.Println("filling")
				select {} // killed here, halfway
			}
			return fillSlowly(tmp, counter)
		})
		if err == nil {
			err = readEntry(entry)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(t *testing.T, entry, counter string, hang bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GKT_CACHEDIR_TEST_FILL="+entry, "GKT_CACHEDIR_TEST_COUNTER="+counter)
	if hang {
		cmd.Env = append(cmd.Env, "GKT_CACHEDIR_TEST_HANG=1")
	}
	return cmd
}

func fills(t *testing.T, counter string) int {
	t.Helper()
	b, err := os.ReadFile(counter)
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(b)))
}

// Several processes fill one empty entry at once: all succeed, all read the complete entry, one of them built it.
func TestProcessesFillingOneEntryAtOnceAllReadItComplete(t *testing.T) {
	root := t.TempDir()
	entry, counter := filepath.Join(root, "schemas-x"), filepath.Join(root, "fills")
	var cmds []*exec.Cmd
	outs := make([]strings.Builder, 6)
	for i := range outs {
		cmd := helper(t, entry, counter, false)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outs[i].String())
		}
	}
	if n := fills(t, counter); n != 1 {
		t.Errorf("the entry was built %d times, want once (the others wait on the lock)", n)
	}
	assertNoLeftovers(t, entry)
}

// Goroutines use separate temporary directories the way processes do; they race on one entry many times.
func TestGoroutinesFillingOneEntryAtOnceAllReadItComplete(t *testing.T) {
	for round := range 5 {
		root := t.TempDir()
		entry, counter := filepath.Join(root, "bin", "kaniko-abc"), filepath.Join(root, "fills")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := Dir(entry, nil, func(tmp string) error { return fillSlowly(tmp, counter) })
				if err == nil {
					err = readEntry(entry)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if n := fills(t, counter); n != 1 {
			t.Errorf("round %d: built %d times, want 1", round, n)
		}
		assertNoLeftovers(t, entry)
	}
}

// A writer killed halfway leaves no entry a reader trusts, and the next writer builds a complete one.
func TestWriterKilledHalfwayLeavesNothingTrustedAndTheNextOneBuilds(t *testing.T) {
	root := t.TempDir()
	entry, counter := filepath.Join(root, "rootfs-x"), filepath.Join(root, "fills")
	cmd := helper(t, entry, counter, true)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("filling"))
	if _, err := out.Read(buf); err != nil || string(buf) != "filling" {
		t.Fatalf("the hanging writer did not start filling: %q %v", buf, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if DirComplete(entry) {
		t.Fatal("a killed writer's entry looks complete")
	}
	left, _ := filepath.Glob(entry + ".tmp-*")
	if len(left) == 0 {
		t.Fatal("the killed writer left no temporary directory: the test did not kill it halfway")
	}
	built, err := Dir(entry, nil, func(tmp string) error { return fillSlowly(tmp, counter) })
	if err != nil || !built {
		t.Fatalf("after a killed writer: built=%v err=%v", built, err)
	}
	if err := readEntry(entry); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, entry)
}

// An incomplete entry of the older layout (a directory without .complete, the shared .tmp) is replaced.
func TestIncompleteEntryOfTheOldLayoutIsReplaced(t *testing.T) {
	root := t.TempDir()
	entry, counter := filepath.Join(root, "schemas-old"), filepath.Join(root, "fills")
	for _, d := range []string{entry, entry + ".tmp"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f00"), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Dir(entry, nil, func(tmp string) error { return fillSlowly(tmp, counter) }); err != nil {
		t.Fatal(err)
	}
	if err := readEntry(entry); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, entry)
}

// A failed fill publishes nothing and leaves nothing; the error names the entry.
func TestFailedFillPublishesNothing(t *testing.T) {
	root := t.TempDir()
	entry := filepath.Join(root, "e2e-images.tar")
	_, err := File(entry, nil, func(tmp string) error {
		_ = os.WriteFile(tmp, []byte("half"), 0o644)
		return fmt.Errorf("disk full")
	})
	if err == nil || !strings.Contains(err.Error(), "e2e-images.tar") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("want an error naming the entry and the cause, got %v", err)
	}
	if FileComplete(entry) {
		t.Fatal("a failed fill published its file")
	}
	assertNoLeftovers(t, entry)
	if _, err := File(entry, nil, func(tmp string) error { return nil }); err == nil {
		t.Fatal("a writer that wrote no file must fail")
	}
}

func assertNoLeftovers(t *testing.T, entry string) {
	t.Helper()
	left, _ := filepath.Glob(entry + ".tmp*")
	if len(left) > 0 {
		t.Errorf("leftovers beside the entry: %v", left)
	}
}
