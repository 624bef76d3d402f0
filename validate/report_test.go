package validate_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/validate"
)

// junitDoc is what the tests read back from JUnit XML.
type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	junitCounts
	Suites []struct {
		Name      string `xml:"name,attr"`
		Timestamp string `xml:"timestamp,attr"`
		junitCounts
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Class   string `xml:"classname,attr"`
			Time    string `xml:"time,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
		SystemOut string `xml:"system-out"`
	} `xml:"testsuite"`
}

// junitCounts are the counts JUnit keeps on suites.
type junitCounts struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
}

// failedReport is a run in which every kind of outcome happened.
func failedReport() validate.Report {
	ten := 10
	return validate.Report{
		RunID: "gate-x", Backend: "twin", Image: "twin:al2023-nftables", NetworkModes: []string{"awsvpc", "bridge"},
		ProbeImage: validate.DefaultProbeImage, Start: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Duration: validate.Seconds(9500 * time.Millisecond),
		Checks: []validate.Check{
			{Name: "launch", Status: validate.StatusPass, Duration: validate.Seconds(time.Second), Message: "up"},
			{Name: "awsvpc-credentials", Status: validate.StatusFail, Duration: validate.Seconds(8 * time.Second),
				Message: "exited 10: <no answer> & ]]> \x1b[31mred\x1b[0m", ProbeExitCode: &ten},
			{Name: "bridge-credentials", Status: validate.StatusError, Message: "RunTask failed"},
			{Name: "forced-stop", Status: validate.StatusSkipped, Message: "not run"},
			{Name: "reboot", Status: validate.StatusSkipped, Message: "not run"},
		},
		Diagnostics: map[string]string{"nft list ruleset": "table inet filter {\n\tchain input { policy drop; }\n}\n"},
		Cleanup:     validate.Cleanup{Status: validate.CleanupFailed, Attempts: 2, Error: "close twin: busy"},
	}
}

func TestJUnit(t *testing.T) {
	r := failedReport()
	b, err := r.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed: every token decodes.
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
	}
	if !bytes.HasPrefix(b, []byte(xml.Header)) {
		t.Errorf("no XML header")
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// Five checks and cleanup; one failure; the bridge error and the failed
	// cleanup are errors; two skips.
	if doc.Tests != 6 || doc.Failures != 1 || doc.Errors != 2 || doc.Skipped != 2 || len(doc.Suites) != 1 {
		t.Fatalf("testsuites counts tests=%d failures=%d errors=%d skipped=%d suites=%d, want 6 1 2 2 1", doc.Tests, doc.Failures, doc.Errors, doc.Skipped, len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Tests != 6 || s.Failures != 1 || s.Errors != 2 || s.Skipped != 2 || len(s.Cases) != 6 {
		t.Errorf("testsuite counts %d %d %d %d with %d cases", s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases))
	}
	if s.Name != "cisecs-gate/twin" || s.Timestamp != "2025-06-01T12:00:00" {
		t.Errorf("suite %q at %q", s.Name, s.Timestamp)
	}
	var names []string
	for _, c := range s.Cases {
		names = append(names, c.Name)
		if c.Class != "cisecs.gate.twin" {
			t.Errorf("case %s: classname %q", c.Name, c.Class)
		}
	}
	if got := strings.Join(names, ","); got != "launch,awsvpc-credentials,bridge-credentials,forced-stop,reboot,cleanup" {
		t.Errorf("cases %s", got)
	}
	f := s.Cases[1].Failure
	if f == nil || f.Type != "probe-exit-10" || !strings.Contains(f.Text, "<no answer> & ]]> \uFFFD[31mred") || s.Cases[1].Time != "8.000" {
		t.Errorf("failure %+v, time %q", f, s.Cases[1].Time)
	}
	if s.Cases[2].Error == nil || s.Cases[3].Skipped == nil || s.Cases[5].Error == nil || s.Cases[0].Failure != nil {
		t.Errorf("error, skipped and cleanup error not where expected: %+v", s.Cases)
	}
	if !strings.Contains(s.SystemOut, "==== nft list ruleset ====\ntable inet filter {\n\tchain input") {
		t.Errorf("diagnostics not in system-out: %q", s.SystemOut)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["run_id"] != "gate-x" || props["image"] != "twin:al2023-nftables" || props["published"] != "false" {
		t.Errorf("properties %v", props)
	}
	// Same report, same bytes.
	if again, _ := r.JUnit(); !bytes.Equal(again, b) {
		t.Errorf("two JUnit renders of the same report differ")
	}
}

func TestReportJSON(t *testing.T) {
	r := failedReport()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"run_id", "backend", "image", "start", "duration_seconds", "checks", "diagnostics", "cleanup", "published"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report JSON lacks %q: %s", k, b)
		}
	}
	if m["duration_seconds"] != 9.5 {
		t.Errorf("duration_seconds %v, want 9.5", m["duration_seconds"])
	}
	c := m["checks"].([]any)[1].(map[string]any)
	if c["name"] != "awsvpc-credentials" || c["status"] != "fail" || c["probe_exit_code"] != 10.0 || c["duration_seconds"] != 8.0 {
		t.Errorf("check JSON %v", c)
	}
	var back validate.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Duration != r.Duration || back.Checks[1].Status != validate.StatusFail || *back.Checks[1].ProbeExitCode != 10 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestExitCode(t *testing.T) {
	pass := validate.Check{Name: "x", Status: validate.StatusPass}
	fail := validate.Check{Name: "x", Status: validate.StatusFail}
	errc := validate.Check{Name: "x", Status: validate.StatusError}
	skip := validate.Check{Name: "x", Status: validate.StatusSkipped}
	done := validate.Cleanup{Status: validate.CleanupDone}
	failedCleanup := validate.Cleanup{Status: validate.CleanupFailed}
	tests := []struct {
		name string
		r    validate.Report
		want int
	}{
		{"all pass", validate.Report{Checks: []validate.Check{pass, pass}, Cleanup: done}, 0},
		{"all pass, published", validate.Report{Checks: []validate.Check{pass}, Cleanup: done, PublishParameter: "p", Published: true}, 0},
		{"a failure", validate.Report{Checks: []validate.Check{pass, fail, skip}, Cleanup: done}, 1},
		{"an error", validate.Report{Checks: []validate.Check{pass, errc, skip}, Cleanup: done}, 2},
		{"error wins over failure", validate.Report{Checks: []validate.Check{fail, errc}, Cleanup: done}, 2},
		{"cleanup failed", validate.Report{Checks: []validate.Check{pass}, Cleanup: failedCleanup}, 2},
		{"cleanup failed after a failure", validate.Report{Checks: []validate.Check{fail}, Cleanup: failedCleanup}, 2},
		{"bad options", validate.Report{Error: "bad options: x", Cleanup: done}, 2},
		{"no checks", validate.Report{Cleanup: done}, 2},
		{"publish failed", validate.Report{Checks: []validate.Check{pass}, Cleanup: done, PublishParameter: "p", PublishError: "denied"}, 2},
		{"publish asked, not done", validate.Report{Checks: []validate.Check{pass}, Cleanup: done, PublishParameter: "p"}, 2},
		{"publish asked, check failed", validate.Report{Checks: []validate.Check{fail}, Cleanup: done, PublishParameter: "p"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.ExitCode(); got != tc.want {
				t.Errorf("ExitCode() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSecondsJSON(t *testing.T) {
	var s validate.Seconds
	if err := json.Unmarshal([]byte(`"1s"`), &s); err == nil || !strings.Contains(err.Error(), `"\"1s\""`) {
		t.Errorf("got %v, want an error naming the input", err)
	}
}

// TestReportText: a line a check, in order, with its status, name,
// seconds and message, then the summary; JSON ends in one newline and
// reads back.
func TestReportText(t *testing.T) {
	r := validate.Report{RunID: "r", Checks: []validate.Check{
		{Name: validate.CheckLaunch, Status: validate.StatusPass, Duration: validate.Seconds(61500 * time.Millisecond), Message: "host launched"},
		{Name: validate.CheckAWSVPC, Status: validate.StatusFail, Duration: validate.Seconds(2 * time.Second), Message: "probe exit 10"},
	}}
	want := "PASS    launch                 61.5s  host launched\n" +
		"FAIL    awsvpc-credentials      2.0s  probe exit 10\n" + r.Summary() + "\n"
	if got := r.Text(); got != want {
		t.Errorf("Text()\n%q\nwant\n%q", got, want)
	}
	j, err := r.JSON()
	var back validate.Report
	if err != nil || !bytes.HasSuffix(j, []byte("}\n")) || json.Unmarshal(j, &back) != nil || back.RunID != "r" || len(back.Checks) != 2 {
		t.Errorf("JSON() = %q, %v", j, err)
	}
}
