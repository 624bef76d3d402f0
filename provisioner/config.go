//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package provisioner

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/cisecs/cisecs/provisioner/hostscript"
)

// Defaults for the settings that have one.
const (
	// DefaultRemoteDir is where the script is uploaded when remote_dir is
	// not set.
	DefaultRemoteDir = "/tmp"
	// DefaultStartRetryTimeout is how long the upload and start are
	// retried when start_retry_timeout is not set.
	DefaultStartRetryTimeout = 5 * time.Minute
)

// Config is the provisioner's configuration, as written in the
// provisioner "cisecs" block of a template.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// The script steps to run, in any order; they always run in the
	// script's own order (detect, agent, config, layers, firewall, persist, sysctl,
	// services, cleanup, report). Empty, the default, runs them all. detect
	// and report run whatever is selected.
	Steps []string `mapstructure:"steps"`
	// Steps not to run, taken away from steps: for example `["agent"]` on
	// an image that already carries the ECS agent. detect and report cannot
	// be skipped.
	SkipSteps []string `mapstructure:"skip_steps"`
	// The ECS network modes whose tasks must reach their credentials:
	// `awsvpc` (tasks arrive on ecs-bridge), `bridge` (tasks arrive on
	// docker0), `host` (tasks share the host's network namespace; without
	// it, ecs.config does not give host-mode tasks task roles). Empty, the
	// default, means all three.
	NetworkModes []string `mapstructure:"network_modes"`
	// The ECS agent version to install, such as `1.86.3` or `1.86.3-1`.
	// Empty, the default, installs the newest version the OS family's
	// channel offers.
	AgentVersion string `mapstructure:"agent_version"`
	// Where ecs-init packages and their .asc signatures are fetched from.
	// Empty, the default, means the agent's regional S3 bucket; builds in
	// private subnets point it at a mirror.
	AgentBaseURL string `mapstructure:"agent_base_url"`
	// An ASCII-armoured PGP public key to verify the agent packages with.
	// Empty, the default, uses the Amazon ECS key shipped with the plugin;
	// no keyserver is asked.
	AgentKey string `mapstructure:"agent_key"`
	// The fingerprint the signing key must have, 40 hex digits (spaces
	// allowed). Empty, the default, means the Amazon ECS key
	// F34C3DDAE72926B079BEAEC6BCE9D9A42D51784F; any other needs agent_key.
	AgentKeyFingerprint string `mapstructure:"agent_key_fingerprint"`
	// The AWS region the image is built in, such as `eu-west-1`. Empty, the
	// default, asks the instance metadata service (IMDSv2) on the host.
	Region string `mapstructure:"region"`
	// Sets ECS_AWSVPC_BLOCK_IMDS=true in ecs.config so that awsvpc tasks
	// cannot reach the instance metadata service. Defaults to false.
	AWSVPCBlockIMDS bool `mapstructure:"awsvpc_block_imds"`
	// Extra ecs.config settings, such as `{ ECS_LOGLEVEL = "debug" }`. Keys
	// are ECS_ followed by A-Z, 0-9 and _. ECS_CLUSTER is refused: the
	// cluster is chosen at launch in user data, never baked into an image.
	ECSConfig map[string]string `mapstructure:"ecs_config"`
	// Gives /var/lib/docker a volume of its own, of this many GiB: the
	// layers step formats it (ext4, label cisecs-docker) if it is empty
	// and mounts it by label with nodev,nosuid. Needed where the CIS base
	// has a small /var partition of its own, which the layers step
	// otherwise refuses. Defaults to 0, no volume.
	DockerVolumeSizeGB int `mapstructure:"docker_volume_size_gb"`
	// The device name the Docker volume is attached as, such as
	// /dev/sdf; optional (see docker_volume_size_gb).
	DockerVolumeDeviceName string `mapstructure:"docker_volume_device_name"`
	// Gives /var/log/audit a volume of its own, of this many GiB (label
	// cisecs-audit, nodev,nosuid,noexec), sized for the audit retention:
	// CIS keeps every audit log and halts the host when they fill their
	// partition. Defaults to 0, no volume.
	AuditVolumeSizeGB int `mapstructure:"audit_volume_size_gb"`
	// The device name the audit volume is attached as; optional.
	AuditVolumeDeviceName string `mapstructure:"audit_volume_device_name"`
	// Accepts the deviation from CIS Level 2 "Ensure overlayfs kernel
	// module is not available": the layers step comments out the rules
	// that stop the overlay module, which Docker's overlay2 needs, and
	// reports it. Defaults to false: such a host is refused.
	AllowOverlayfs bool `mapstructure:"allow_overlayfs"`
	// Where the script writes its JSON report on the host, an absolute
	// path. Defaults to /var/lib/cisecs/report.json.
	ReportPath string `mapstructure:"report_path"`
	// The local file the report is downloaded to, also when the script
	// fails. Defaults to cisecs-report-<build name>.json in the current
	// directory. Missing parent directories are created.
	ReportFile string `mapstructure:"report_file"`
	// The directory on the host the script is uploaded to, an absolute
	// path; the script is removed once it has run. Defaults to /tmp. The
	// script is run as `bash <file>`, so a noexec mount (as CIS requires
	// for /tmp) does not matter.
	RemoteDir string `mapstructure:"remote_dir"`
	// Run the script with `sudo -n` (no password prompt). Defaults to true;
	// set it to false when the communicator logs in as root. Where sudoers
	// says requiretty, set `ssh_pty = true` on the source.
	UseSudo config.Trilean `mapstructure:"use_sudo"`
	// How long to keep retrying the upload and start of the script while
	// the host is still booting or its SSH server restarts, as a duration
	// such as `90s` or `10m`. Defaults to `5m`. Once the script has started
	// it is never run again.
	StartRetryTimeout string `mapstructure:"start_retry_timeout"`

	ctx interpolate.Context
}

// prepared is what Prepare derives from a Config: everything Provision
// needs, checked.
type prepared struct {
	// steps are the steps the script runs, in run order.
	steps []string
	// script is the rendered host script.
	script []byte
	// reportPath is where the script writes its report on the host.
	reportPath string
	// reportFile is the local file the report is downloaded to.
	reportFile string
	// remoteDir is where the script is uploaded.
	remoteDir string
	// sudo runs the script with sudo -n.
	sudo bool
	// startRetryTimeout bounds the retries of upload and start.
	startRetryTimeout time.Duration
}

// safeRemoteDirRE matches the remote directories the provisioner accepts:
// absolute paths of plain characters, so that the path can be quoted for
// the shell without surprises.
var safeRemoteDirRE = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)

// unsafeNameRE matches the characters of a build name that are replaced in
// the default report file name.
var unsafeNameRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// decode decodes raws into c, interpolating them.
func (c *Config) decode(raws ...any) error {
	return config.Decode(c, &config.DecodeOpts{
		PluginType:         "cisecs",
		Interpolate:        true,
		InterpolateContext: &c.ctx,
	}, raws...)
}

// options maps c to the host script's options.
func (c *Config) options() hostscript.Options {
	return hostscript.Options{
		Steps:               c.Steps,
		SkipSteps:           c.SkipSteps,
		NetworkModes:        c.NetworkModes,
		AgentVersion:        c.AgentVersion,
		AgentBaseURL:        c.AgentBaseURL,
		AgentKey:            c.AgentKey,
		AgentKeyFingerprint: c.AgentKeyFingerprint,
		Region:              c.Region,
		AWSVPCBlockIMDS:     c.AWSVPCBlockIMDS,
		ECSConfig:           c.ECSConfig,
		ReportPath:          c.ReportPath,
		Layers: hostscript.Layers{
			DockerVolume:   hostscript.Volume{SizeGB: c.DockerVolumeSizeGB, Device: c.DockerVolumeDeviceName},
			AuditVolume:    hostscript.Volume{SizeGB: c.AuditVolumeSizeGB, Device: c.AuditVolumeDeviceName},
			AllowOverlayfs: c.AllowOverlayfs,
		},
	}
}

// prepare checks c, reporting every bad setting at once, and derives what
// Provision needs, rendering the script.
func (c *Config) prepare() (prepared, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	opts := c.options()
	if err := opts.Validate(); err != nil {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, joined.Unwrap()...)
		} else {
			errs = append(errs, err)
		}
	}

	p := prepared{
		steps:             opts.EffectiveSteps(),
		reportPath:        c.ReportPath,
		reportFile:        c.ReportFile,
		remoteDir:         c.RemoteDir,
		sudo:              !c.UseSudo.False(),
		startRetryTimeout: DefaultStartRetryTimeout,
	}
	if p.reportPath == "" {
		p.reportPath = hostscript.DefaultReportPath
	}
	if p.reportFile == "" {
		p.reportFile = defaultReportFile(c.PackerBuildName)
	}
	if fi, err := os.Stat(p.reportFile); err == nil && fi.IsDir() {
		bad("report_file: %q is a directory", p.reportFile)
	}
	if p.remoteDir == "" {
		p.remoteDir = DefaultRemoteDir
	}
	if !safeRemoteDirRE.MatchString(p.remoteDir) {
		bad("remote_dir: %q is not an absolute path of letters, digits and . _ / -", p.remoteDir)
	} else {
		p.remoteDir = path.Clean(p.remoteDir)
	}
	if c.StartRetryTimeout != "" {
		d, err := time.ParseDuration(c.StartRetryTimeout)
		switch {
		case err != nil:
			bad("start_retry_timeout: %q is not a duration like 90s or 5m", c.StartRetryTimeout)
		case d <= 0:
			bad("start_retry_timeout: %q is not positive", c.StartRetryTimeout)
		default:
			p.startRetryTimeout = d
		}
	}
	switch len(errs) {
	case 0:
	case 1:
		return prepared{}, errs[0]
	default:
		return prepared{}, fmt.Errorf("%d bad settings:\n%w", len(errs), errors.Join(errs...))
	}

	script, err := hostscript.Render(opts)
	if err != nil {
		return prepared{}, fmt.Errorf("render host script: %w", err)
	}
	p.script = script
	return p, nil
}

// defaultReportFile returns the report file name for a build, in the
// current directory.
func defaultReportFile(buildName string) string {
	name := strings.Trim(unsafeNameRE.ReplaceAllString(buildName, "_"), "_.")
	if name == "" {
		return "cisecs-report.json"
	}
	return "cisecs-report-" + name + ".json"
}
