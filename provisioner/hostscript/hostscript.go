// Package hostscript renders the bash script that turns a CIS-hardened Linux
// host into an ECS host whose tasks can reach their credentials: it installs
// Docker and the ECS agent, opens exactly the credentials path in whatever
// firewall the host runs, persists that the way the OS restores it at boot,
// and reports every deviation from the CIS benchmark.
//
// The script is made of named steps (see Steps). detect and report always
// run; the others run when selected. Every step is idempotent: a second run
// of the script changes nothing.
package hostscript

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/templates"
)

// Steps lists the script's steps in the order they run.
var Steps = []string{"detect", "agent", "config", "layers", "firewall", "persist", "sysctl", "services", "cleanup", "report"}

// DefaultReportPath is where the script writes its JSON report on the host.
const DefaultReportPath = "/var/lib/cisecs/report.json"

// DefaultAgentKeyFingerprint is the fingerprint of the Amazon ECS PGP key
// that signs ecs-init packages (key id BCE9D9A42D51784F, as AWS documents).
const DefaultAgentKeyFingerprint = "F34C3DDAE72926B079BEAEC6BCE9D9A42D51784F"

// DefaultAgentKey is the Amazon ECS PGP public key, shipped so that builds
// verify ecs-init packages without asking a keyserver (AWS's own install
// script stopped doing so as unreliable). Its signing subkey D64BB6F9…
// 710E61AF signs the packages published since 2021. The file is byte for
// byte aws/amazon-ecs-agent's scripts/amazon-ecs-agent.gpg (commit
// 973e2e16f624b490324b291b0266e6c953104bd9, unchanged at 8dfceca6), the key
// its ecs-anywhere-install.sh imports.
//
//go:embed amazon-ecs-agent.asc
var DefaultAgentKey string

// Options are the settings a script is rendered with. The zero value is
// valid and renders the full script for every network mode.
type Options struct {
	// Steps selects the steps to run, in any order; empty means all of
	// them. detect and report run whatever is selected.
	Steps []string
	// SkipSteps removes steps from Steps (e.g. "agent" where nothing can
	// be downloaded); detect and report cannot be skipped.
	SkipSteps []string
	// NetworkModes are the ECS network modes to open the credentials path
	// for; empty means all of release.NetworkModes. With host among them,
	// ecs.config gives host-mode tasks their task roles
	// (ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true); without it, it does not.
	NetworkModes []string
	// AgentVersion pins the ECS agent (e.g. "1.86.3"); empty installs the
	// newest the OS family's channel offers.
	AgentVersion string
	// AgentBaseURL is where ecs-init packages and their .asc signatures are
	// fetched from; empty means the agent's regional S3 bucket. Private
	// subnets point it at a mirror.
	AgentBaseURL string
	// AgentKey is an ASCII-armoured PGP public key to verify packages with;
	// empty means DefaultAgentKey, which only DefaultAgentKeyFingerprint
	// can name.
	AgentKey string
	// AgentKeyFingerprint is the fingerprint the signing key must have;
	// empty means DefaultAgentKeyFingerprint.
	AgentKeyFingerprint string
	// Region is the AWS region the image is built in; empty asks the
	// instance metadata service (IMDSv2) at run time.
	Region string
	// AWSVPCBlockIMDS sets ECS_AWSVPC_BLOCK_IMDS=true in ecs.config.
	AWSVPCBlockIMDS bool
	// ECSConfig holds extra ecs.config keys. ECS_CLUSTER is refused: the
	// cluster is chosen at launch, never baked.
	ECSConfig map[string]string
	// ReportPath is where the script writes its report; empty means
	// DefaultReportPath.
	ReportPath string
	// Layers are the settings of the layers step (see Layers).
	Layers Layers
}

var script = template.Must(template.New("host.sh.tmpl").
	Option("missingkey=error").
	Funcs(template.FuncMap{"shq": templates.ShellQuote}).
	ParseFS(templates.FS, "host.sh.tmpl", "firewall/*.sh.tmpl", "layers/*.sh.tmpl"))

// vars is what host.sh.tmpl is filled with.
type vars struct {
	Steps               []string
	NetworkModes        []string
	AgentVersion        string
	AgentBaseURL        string
	AgentKey            string
	AgentKeyFingerprint string
	Region              string
	ECSConfig           []kv
	ReportPath          string
	ReportSchema        string
	layerVars
}

type kv struct{ Key, Value string }

var (
	versionRE   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9]+)?$`)
	ecsKeyRE    = regexp.MustCompile(`^ECS_[A-Z0-9_]+$`)
	fprRE       = regexp.MustCompile(`^[0-9A-F]{40}$`)
	urlRE       = regexp.MustCompile(`^https?://[^\s'"]+$`)
	absPathRE   = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)
	armouredKey = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
)

// Validate reports every bad setting at once, each naming the setting.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, s := range o.Steps {
		if !slices.Contains(Steps, s) {
			bad("steps: unknown step %q (steps are %s)", s, strings.Join(Steps, ", "))
		}
	}
	for _, s := range o.SkipSteps {
		switch {
		case !slices.Contains(Steps, s):
			bad("skip_steps: unknown step %q (steps are %s)", s, strings.Join(Steps, ", "))
		case s == "detect" || s == "report":
			bad("skip_steps: %q always runs and cannot be skipped", s)
		}
	}
	for _, m := range o.NetworkModes {
		if !slices.Contains(release.NetworkModes(), m) {
			bad("network_modes: unknown mode %q (modes are %s)", m, strings.Join(release.NetworkModes(), ", "))
		}
	}
	if o.AgentVersion != "" && !versionRE.MatchString(o.AgentVersion) {
		bad("agent_version: %q is not a version like 1.86.3 or 1.86.3-1", o.AgentVersion)
	}
	if o.AgentBaseURL != "" && !urlRE.MatchString(o.AgentBaseURL) {
		bad("agent_base_url: %q is not an http(s) URL", o.AgentBaseURL)
	}
	if o.AgentKey != "" && !strings.Contains(o.AgentKey, armouredKey) {
		bad("agent_key: not an ASCII-armoured PGP public key (no %q line)", armouredKey)
	}
	if f := normalFingerprint(o.AgentKeyFingerprint); o.AgentKeyFingerprint != "" && !fprRE.MatchString(f) {
		bad("agent_key_fingerprint: %q is not a 40-digit hex fingerprint", o.AgentKeyFingerprint)
	} else if o.AgentKey == "" && o.AgentKeyFingerprint != "" && f != DefaultAgentKeyFingerprint {
		bad("agent_key_fingerprint: %s is not the shipped Amazon ECS key (%s); give that key in agent_key", f, DefaultAgentKeyFingerprint)
	}
	if o.Region != "" && !release.IsRegion(o.Region) {
		bad("region: %q is not an AWS region name", o.Region)
	}
	for _, k := range slices.Sorted(maps.Keys(o.ECSConfig)) {
		v := o.ECSConfig[k]
		switch {
		case k == "ECS_CLUSTER":
			bad("ecs_config: ECS_CLUSTER must not be baked into an image; set it in user data at launch")
		case !ecsKeyRE.MatchString(k):
			bad("ecs_config: %q is not an ecs.config key (ECS_ followed by A-Z, 0-9, _)", k)
		case strings.ContainsAny(v, "\n\r\x00"):
			bad("ecs_config: value of %s holds a line break", k)
		}
	}
	if o.ReportPath != "" && !absPathRE.MatchString(o.ReportPath) {
		bad("report_path: %q is not an absolute path", o.ReportPath)
	}
	errs = append(errs, o.Layers.validate()...)
	return errors.Join(errs...)
}

// Render returns the script for o. It is pure: the same options give the
// same bytes.
func Render(o Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	v := vars{
		Steps:               o.EffectiveSteps(),
		NetworkModes:        canonical(o.NetworkModes, release.NetworkModes()),
		AgentVersion:        o.AgentVersion,
		AgentBaseURL:        strings.TrimRight(o.AgentBaseURL, "/"),
		AgentKey:            strings.TrimSpace(o.AgentKey),
		AgentKeyFingerprint: normalFingerprint(o.AgentKeyFingerprint),
		Region:              o.Region,
		ReportPath:          o.ReportPath,
		ReportSchema:        ReportSchema,
		layerVars:           o.Layers.vars(),
	}
	if v.AgentKeyFingerprint == "" {
		v.AgentKeyFingerprint = DefaultAgentKeyFingerprint
	}
	if v.AgentKey == "" {
		v.AgentKey = strings.TrimSpace(DefaultAgentKey)
	}
	if v.ReportPath == "" {
		v.ReportPath = DefaultReportPath
	}
	// Host-mode tasks get task roles only where the script opens their
	// path. Without the key the agent does not register ECS's
	// task-iam-role-network-host capability, so ECS places no host-mode
	// task with a task role on the instance, rather than one whose every
	// AWS call times out.
	cfg := map[string]string{
		"ECS_ENABLE_TASK_IAM_ROLE":              "true",
		"ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST": fmt.Sprint(slices.Contains(v.NetworkModes, release.ModeHost)),
		"ECS_AWSVPC_BLOCK_IMDS":                 fmt.Sprint(o.AWSVPCBlockIMDS),
	}
	maps.Copy(cfg, o.ECSConfig)
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		v.ECSConfig = append(v.ECSConfig, kv{k, cfg[k]})
	}
	var b bytes.Buffer
	if err := script.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("render host script: %w", err)
	}
	return b.Bytes(), nil
}

// EffectiveSteps returns the steps the script runs, in run order: Steps (or
// all) less SkipSteps, with detect and report always present.
func (o Options) EffectiveSteps() []string {
	sel := slices.Clone(Steps)
	if len(o.Steps) > 0 {
		sel = canonical(append([]string{"detect", "report"}, o.Steps...), Steps)
	}
	return slices.DeleteFunc(sel, func(s string) bool {
		return s != "detect" && s != "report" && slices.Contains(o.SkipSteps, s)
	})
}

// canonical returns the members of all that sel names, in the order of all;
// an empty sel selects all.
func canonical(sel, all []string) []string {
	if len(sel) == 0 {
		return slices.Clone(all)
	}
	var out []string
	for _, s := range all {
		if slices.Contains(sel, s) {
			out = append(out, s)
		}
	}
	return out
}

func normalFingerprint(f string) string {
	return strings.ToUpper(strings.ReplaceAll(f, " ", ""))
}
