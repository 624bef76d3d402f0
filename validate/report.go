package validate

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names of the gate's checks, in the order they run.
const (
	CheckLaunch     = "launch"
	CheckAWSVPC     = "awsvpc-credentials"
	CheckBridge     = "bridge-credentials"
	CheckHost       = "host-credentials"
	CheckForcedStop = "forced-stop"
	CheckReboot     = "reboot"
)

// Status is how a check ended.
type Status string

// Check statuses.
const (
	// StatusPass: the check ran and passed.
	StatusPass Status = "pass"
	// StatusFail: the check ran and the image failed it.
	StatusFail Status = "fail"
	// StatusSkipped: the check did not run, because an earlier one did
	// not pass.
	StatusSkipped Status = "skipped"
	// StatusError: the check could not run to a verdict (the backend
	// failed, the gate timed out or was interrupted).
	StatusError Status = "error"
)

// Exit codes of a run (Report.ExitCode).
const (
	// ExitPass: every check passed and cleanup succeeded (and the image
	// was published when that was asked).
	ExitPass = 0
	// ExitFail: a check failed: the image does not work.
	ExitFail = 1
	// ExitError: the gate could not run or finish: bad options, a launch
	// or backend error, a timeout or interruption, a cleanup or publish
	// failure.
	ExitError = 2
)

// Seconds is a duration that JSON holds as a number of seconds.
type Seconds time.Duration

// MarshalJSON implements json.Marshaler.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', 3, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("seconds %q: %w", b, err)
	}
	*s = Seconds(time.Duration(f * float64(time.Second)))
	return nil
}

// Report is what one run of the gate found. Its JSON is the gate's
// machine-readable output.
type Report struct {
	// RunID identifies the run.
	RunID string `json:"run_id"`
	// Backend is Backend.Name().
	Backend string `json:"backend"`
	// Image is the image under test.
	Image string `json:"image"`
	// NetworkModes are the modes probed.
	NetworkModes []string `json:"network_modes"`
	// IMDSBlocked says the awsvpc probe required IMDS to be blocked.
	IMDSBlocked bool `json:"imds_blocked"`
	// BridgeIMDSBlocked says the bridge probe required IMDS to be blocked.
	BridgeIMDSBlocked bool `json:"bridge_imds_blocked,omitempty"`
	// RoleARN is the role the credentials had to be for; empty when the
	// backend chose it.
	RoleARN string `json:"role_arn,omitempty"`
	// ProbeImage is the probe container's image.
	ProbeImage string `json:"probe_image"`
	// Start is when the run began.
	Start time.Time `json:"start"`
	// Duration is how long the whole run took, cleanup included.
	Duration Seconds `json:"duration_seconds"`
	// Error says why the gate could not run or finish, when it could not
	// (bad options, timeout, interruption).
	Error string `json:"error,omitempty"`
	// Checks are the checks in the order they ran.
	Checks []Check `json:"checks"`
	// Diagnostics is what the backend collected after a failure.
	Diagnostics map[string]string `json:"diagnostics,omitempty"`
	// DiagnosticsError says why diagnostics could not be collected.
	DiagnosticsError string `json:"diagnostics_error,omitempty"`
	// Cleanup is how the removal of what the run created went.
	Cleanup Cleanup `json:"cleanup"`
	// PublishParameter is where the image id was to be published.
	PublishParameter string `json:"publish_parameter,omitempty"`
	// Published says the image id was published.
	Published bool `json:"published"`
	// PublishError says why a publication that was asked for did not
	// happen.
	PublishError string `json:"publish_error,omitempty"`
}

// Check is one check's outcome.
type Check struct {
	// Name is one of the Check* constants.
	Name string `json:"name"`
	// Status is how the check ended.
	Status Status `json:"status"`
	// Duration is how long it took.
	Duration Seconds `json:"duration_seconds"`
	// Message says what was found, or why the check did not pass or run.
	Message string `json:"message"`
	// ProbeExitCode is the exit code of the probe that decided the check.
	ProbeExitCode *int `json:"probe_exit_code,omitempty"`
	// Tasks are the backend's ids of the tasks the check ran.
	Tasks []string `json:"tasks,omitempty"`
}

// Cleanup is how cleanup went.
type Cleanup struct {
	// Status is "done" or "failed".
	Status string `json:"status"`
	// Attempts is how many times Cleanup was called (at most two).
	Attempts int `json:"attempts"`
	// Duration is how long cleanup took, both attempts together.
	Duration Seconds `json:"duration_seconds"`
	// Error is the last attempt's error.
	Error string `json:"error,omitempty"`
}

// Cleanup statuses.
const (
	CleanupDone   = "done"
	CleanupFailed = "failed"
)

// Passed says every check ran and passed.
func (r Report) Passed() bool {
	if r.Error != "" || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if c.Status != StatusPass {
			return false
		}
	}
	return true
}

// ExitCode is the gate's process exit status: ExitPass when every check
// passed and cleanup succeeded (and the publication asked for happened),
// ExitFail when a check failed, ExitError when the gate could not run or
// finish. ExitError wins over ExitFail: a run that leaked resources must
// be looked at whatever it found.
func (r Report) ExitCode() int {
	failed := false
	errored := r.Error != "" || len(r.Checks) == 0 || r.Cleanup.Status != CleanupDone ||
		r.PublishError != "" || (r.PublishParameter != "" && !r.Published && r.Passed())
	for _, c := range r.Checks {
		switch c.Status {
		case StatusFail:
			failed = true
		case StatusError:
			errored = true
		case StatusPass:
		default: // skipped: only after something else did not pass
		}
	}
	switch {
	case errored:
		return ExitError
	case failed:
		return ExitFail
	}
	return ExitPass
}

// Text is the report for a terminal: a line each check (status, name,
// seconds, message), then the summary.
func (r Report) Text() string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-7s %-20s %6.1fs  %s\n", strings.ToUpper(string(c.Status)), c.Name, time.Duration(c.Duration).Seconds(), c.Message)
	}
	return b.String() + r.Summary() + "\n"
}

// JSON is the report as --report writes it: indented, one newline at the
// end.
func (r Report) JSON() ([]byte, error) {
	j, err := json.MarshalIndent(r, "", "  ")
	return append(j, '\n'), err
}

// Summary says in one line how the run ended.
func (r Report) Summary() string {
	var counts []string
	n := map[Status]int{}
	for _, c := range r.Checks {
		n[c.Status]++
	}
	for _, s := range []Status{StatusPass, StatusFail, StatusError, StatusSkipped} {
		if n[s] > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	verdict := map[int]string{ExitPass: "PASS", ExitFail: "FAIL", ExitError: "ERROR"}[r.ExitCode()]
	s := fmt.Sprintf("gate %s on %s (%s): %s: %s; cleanup %s", r.RunID, r.Backend, r.Image, verdict, strings.Join(counts, ", "), r.Cleanup.Status)
	if r.Error != "" {
		s += "; " + r.Error
	}
	switch {
	case r.Published:
		s += fmt.Sprintf("; published to %s", r.PublishParameter)
	case r.PublishParameter != "":
		s += fmt.Sprintf("; not published to %s", r.PublishParameter)
	}
	return s
}

// JUnit XML, as CI systems read it (the Jenkins/Ant schema).
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr"`
		Properties []junitProperty `xml:"properties>property"`
		Cases      []junitCase     `xml:"testcase"`
		SystemOut  *junitText      `xml:"system-out"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		ClassName string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure"`
		Error     *junitProblem `xml:"error"`
		Skipped   *junitProblem `xml:"skipped"`
		SystemOut *junitText    `xml:"system-out"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",cdata"`
	}
	junitText struct {
		Text string `xml:",cdata"`
	}
)

// JUnit returns the report as JUnit XML: one test suite for the run, one
// test case per check and one for cleanup (a failed cleanup is an error);
// failures, errors and skips as JUnit has them, and diagnostics in the
// suite's system-out.
func (r Report) JUnit() ([]byte, error) {
	class := "cisecs.gate." + r.Backend
	s := junitSuite{
		Name:      "cisecs-gate/" + r.Backend,
		Time:      seconds(r.Duration),
		Timestamp: r.Start.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{"run_id", r.RunID},
			{"backend", r.Backend},
			{"image", r.Image},
			{"network_modes", strings.Join(r.NetworkModes, ",")},
			{"probe_image", r.ProbeImage},
			{"published", strconv.FormatBool(r.Published)},
		},
	}
	if r.PublishParameter != "" {
		s.Properties = append(s.Properties, junitProperty{"publish_parameter", r.PublishParameter})
	}
	if r.Error != "" {
		s.Properties = append(s.Properties, junitProperty{"error", r.Error})
	}
	for _, c := range r.Checks {
		jc := junitCase{Name: c.Name, ClassName: class, Time: seconds(c.Duration)}
		typ := ""
		if c.ProbeExitCode != nil {
			typ = fmt.Sprintf("probe-exit-%d", *c.ProbeExitCode)
		}
		switch c.Status {
		case StatusFail:
			jc.Failure = &junitProblem{Message: c.Message, Type: typ, Text: xmlSafe(c.Message)}
			s.Failures++
		case StatusError:
			jc.Error = &junitProblem{Message: c.Message, Type: typ, Text: xmlSafe(c.Message)}
			s.Errors++
		case StatusSkipped:
			jc.Skipped = &junitProblem{Message: c.Message}
			s.Skipped++
		default:
			jc.SystemOut = &junitText{xmlSafe(c.Message)}
		}
		s.Cases = append(s.Cases, jc)
	}
	cleanup := junitCase{Name: "cleanup", ClassName: class, Time: seconds(r.Cleanup.Duration),
		SystemOut: &junitText{fmt.Sprintf("%s after %d attempt(s)", r.Cleanup.Status, r.Cleanup.Attempts)}}
	if r.Cleanup.Status != CleanupDone {
		cleanup.Error = &junitProblem{Message: "cleanup " + r.Cleanup.Status + ": " + r.Cleanup.Error, Text: xmlSafe(r.Cleanup.Error)}
		s.Errors++
	}
	s.Cases = append(s.Cases, cleanup)
	s.Tests = len(s.Cases)
	var out strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r.Diagnostics)) {
		fmt.Fprintf(&out, "==== %s ====\n%s\n", k, strings.TrimRight(r.Diagnostics[k], "\n"))
	}
	if r.DiagnosticsError != "" {
		fmt.Fprintf(&out, "==== diagnostics error ====\n%s\n", r.DiagnosticsError)
	}
	if out.Len() > 0 {
		s.SystemOut = &junitText{xmlSafe(out.String())}
	}
	all := junitSuites{
		Name: "cisecs gate " + r.RunID, Tests: s.Tests, Failures: s.Failures,
		Errors: s.Errors, Skipped: s.Skipped, Time: s.Time, Suites: []junitSuite{s},
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit report of run %q: %w", r.RunID, err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// seconds formats d for JUnit's time attributes.
func seconds(d Seconds) string {
	return strconv.FormatFloat(time.Duration(d).Seconds(), 'f', 3, 64)
}

// xmlSafe replaces what XML 1.0 cannot hold (control characters other than
// tab and line breaks, as in a tool's coloured output) with U+FFFD. The
// encoder does that for attributes, but not for CDATA.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}
