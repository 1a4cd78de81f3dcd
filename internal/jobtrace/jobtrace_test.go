package jobtrace

import (
	"testing"
	"time"
)

// trace is a job trace as gitlab-runner 17.9 writes it (ANSI and carriage returns around the markers).
const trace = "\x1b[0KRunning with gitlab-runner 17.9.3\x1b[0;m\n" +
	"section_start:1700000000:prepare_executor\r\x1b[0K\x1b[0K\x1b[36;1mPreparing the \"kubernetes\" executor\x1b[0;m\n" +
	"section_end:1700000001:prepare_executor\r\x1b[0K\n" +
	"section_start:1700000001:prepare_script\r\x1b[0KPreparing environment\nWaiting for pod tenant-a/runner-x to be running\n" +
	"section_end:1700000005:prepare_script\r\x1b[0K\n" +
	"section_start:1700000005:get_sources\r\x1b[0KGetting source from Git repository\n" +
	"section_end:1700000007:get_sources\r\x1b[0K\n" +
	"section_start:1700000007:restore_cache\r\x1b[0KRestoring cache\nSuccessfully extracted cache\n" +
	"section_end:1700000010:restore_cache\r\x1b[0K\n" +
	"section_start:1700000010:step_script\r\x1b[0KExecuting \"step_script\" stage of the job script\n" +
	"section_start:1700000011:nested[collapsed=true]\r\x1b[0Kinner\nsection_end:1700000012:nested\r\x1b[0K\n" +
	"section_end:1700000023:step_script\r\x1b[0K\n" +
	"section_start:1700000023:archive_cache\r\x1b[0KSaving cache for successful job\n" +
	"section_end:1700000026:archive_cache\r\x1b[0K\n" +
	"section_start:1700000026:cleanup_file_variables\r\x1b[0KCleaning up project directory and file based variables\n" +
	"section_end:1700000027:cleanup_file_variables\r\x1b[0K\n" +
	"section_start:1700000027:upload_artifacts_on_success\r\x1b[0Kcut off\n" +
	"Job succeeded\n"

func TestSectionsAndPhasesOfARunnerTrace(t *testing.T) {
	s := Sections(trace)
	var names []string
	for _, x := range s {
		names = append(names, x.Name)
	}
	want := []string{"prepare_executor", "prepare_script", "get_sources", "restore_cache", "step_script", "nested", "archive_cache", "cleanup_file_variables"}
	if len(names) != len(want) {
		t.Fatalf("sections %v, want %v (the unclosed upload left out)", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("sections %v, want %v", names, want)
		}
	}
	if d := s[4].Duration(); d != 13*time.Second {
		t.Errorf("step_script lasted %s, want 13s", d)
	}
	p := PhasesOf([]Section{s[0], s[1], s[2], s[3], s[4], s[6], s[7]}) // the nested section is inside step_script
	for phase, want := range map[string]time.Duration{PhasePod: 5 * time.Second, PhaseSources: 2 * time.Second, PhaseCacheFetch: 3 * time.Second,
		PhaseScript: 13 * time.Second, PhaseCacheUpload: 3 * time.Second, PhaseOther: time.Second} {
		if p[phase] != want {
			t.Errorf("%s = %s, want %s (%s)", phase, p[phase], want, p)
		}
	}
	if got := p.String(); got != "pod=5s sources=2s cache-restore=3s script=13s cache-upload=3s other=1s" {
		t.Errorf("String() = %q", got)
	}
}

func TestTopLevel(t *testing.T) {
	s := Sections(trace)
	top := TopLevel(s)
	for _, x := range top {
		if x.Name == "nested" {
			t.Fatalf("TopLevel kept the nested section: %v", top)
		}
	}
	if len(top) != len(s)-1 {
		t.Errorf("TopLevel %d sections, want %d", len(top), len(s)-1)
	}
}
