package validate

import (
	"bytes"
	"fmt"
	"text/template"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/templates"
)

// Exit codes of the probe script (templates/probe.sh.tmpl), the contract
// between the probe task and the gate.
const (
	// ProbeExitPass: credentials for the expected role with a future
	// expiry, task metadata v4, and IMDS blocked when it must be.
	ProbeExitPass = 0
	// ProbeExitEnvironment: the task's environment lacks
	// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or ECS_CONTAINER_METADATA_URI_V4,
	// or the probe image has no curl.
	ProbeExitEnvironment = 2
	// ProbeExitCredentialsUnreachable: no HTTP answer from
	// 169.254.170.2 after every attempt (the seed's symptom).
	ProbeExitCredentialsUnreachable = 10
	// ProbeExitWrongRole: credentials for another role.
	ProbeExitWrongRole = 11
	// ProbeExitCredentialsInvalid: an HTTP error, or credentials without a
	// key or role, or expired, or with an unreadable expiry.
	ProbeExitCredentialsInvalid = 12
	// ProbeExitMetadataUnreachable: task metadata v4 gave no answer or an
	// HTTP error.
	ProbeExitMetadataUnreachable = 20
	// ProbeExitMetadataInvalid: task metadata v4 named no container or no
	// task.
	ProbeExitMetadataInvalid = 21
	// ProbeExitIMDSReachable: the instance metadata service answered
	// though the image must block it.
	ProbeExitIMDSReachable = 30
)

// ProbeExitMeaning says what a probe exit code means, for reports.
func ProbeExitMeaning(code int) string {
	switch code {
	case ProbeExitPass:
		return "pass"
	case ProbeExitEnvironment:
		return "task environment incomplete"
	case ProbeExitCredentialsUnreachable:
		return "credentials unreachable"
	case ProbeExitWrongRole:
		return "credentials for the wrong role"
	case ProbeExitCredentialsInvalid:
		return "credentials expired or malformed"
	case ProbeExitMetadataUnreachable:
		return "task metadata unreachable"
	case ProbeExitMetadataInvalid:
		return "task metadata malformed"
	case ProbeExitIMDSReachable:
		return "IMDS reachable"
	case -1:
		return "no exit code"
	}
	return "unexpected exit code"
}

// DefaultProbeImage is the container image the probe runs in: it has sh
// and curl. Private subnets use a mirror (Options.ProbeImage).
const DefaultProbeImage = "public.ecr.aws/amazonlinux/amazonlinux:2023"

// ProbeHoldLine is the line the probe prints on stdout when it passed and,
// with Probe.Hold, starts holding until it is stopped.
const ProbeHoldLine = "cisecs-probe: holding until stopped"

// Where the probe looks; tests point the script elsewhere.
const (
	credentialsEndpoint = "http://169.254.170.2"
	imdsTokenURL        = "http://169.254.169.254/latest/api/token"
)

var probeTemplate = template.Must(template.New("probe.sh.tmpl").
	Option("missingkey=error").
	Funcs(template.FuncMap{"shq": templates.ShellQuote}).
	ParseFS(templates.FS, "probe.sh.tmpl"))

// probeVars is what probe.sh.tmpl is filled with.
type probeVars struct {
	RoleARN             string
	IMDSBlocked         bool
	Hold                bool
	CredentialsEndpoint string
	IMDSTokenURL        string
	// ConnectTimeout and MaxTime bound each curl, in whole seconds;
	// Attempts is how many times an unanswered GET is tried.
	ConnectTimeout, MaxTime, Attempts int
}

// ProbeScript returns the probe script for p: the POSIX sh program the
// probe task runs (on AWS as the container's command, sh -c SCRIPT). It
// is pure: the same probe gives the same bytes. p.Mode is not part of the
// script; p.RoleARN must be a role ARN.
func ProbeScript(p Probe) ([]byte, error) {
	if !release.IsRoleARN(p.RoleARN) {
		return nil, fmt.Errorf("probe script: role %q is not an IAM role ARN", p.RoleARN)
	}
	return renderProbe(probeVars{
		RoleARN:             p.RoleARN,
		IMDSBlocked:         p.IMDSBlocked,
		Hold:                p.Hold,
		CredentialsEndpoint: credentialsEndpoint,
		IMDSTokenURL:        imdsTokenURL,
		ConnectTimeout:      1,
		MaxTime:             5,
		Attempts:            3,
	})
}

// renderProbe fills the probe template.
func renderProbe(v probeVars) ([]byte, error) {
	var buf bytes.Buffer
	if err := probeTemplate.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("probe script: %w", err)
	}
	return buf.Bytes(), nil
}
