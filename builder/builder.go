// Package builder renders an image definition into a complete Packer HCL2
// template: the newest matching CIS-hardened base AMI (data "amazon-ami"),
// an amazon-ebs source with the safe defaults (SSM Session Manager, IMDSv2,
// encryption), the cisecs provisioner with the image's ECS options, and a
// manifest post-processor. The AMI is tagged with its provenance: the
// source AMI, the image name and the SHA-256 of its definition.
//
// A build writes its manifest (ManifestFile) and the host script's report
// (ReportFile) beside the template, in Packer's path.root, whatever
// directory Packer runs in.
package builder

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/templates"
)

// AmazonPluginVersion is the packer-plugin-amazon version the templates
// require, exactly: the one tools/go.mod pins, which make rehearse and
// make validate-templates run them with.
const AmazonPluginVersion = "1.8.2"

var packerTemplate = template.Must(template.New("packer.pkr.hcl.tmpl").
	Option("missingkey=error").
	Funcs(template.FuncMap{"q": quote, "list": list, "key": key, "heredoc": heredoc}).
	ParseFS(templates.FS, "packer.pkr.hcl.tmpl"))

var ssmAgentTemplate = template.Must(template.New("ssm-agent.sh.tmpl").
	Option("missingkey=error").
	Funcs(template.FuncMap{"shq": templates.ShellQuote}).
	ParseFS(templates.FS, "ssm-agent.sh.tmpl"))

// ssmAgentVars is what ssm-agent.sh.tmpl is filled with.
type ssmAgentVars struct {
	Name, OSTitle, Architecture string
	// URL is the agent's rpm in the build region's bucket.
	URL string
}

// SSHTimeout is how long the build waits for SSH through the Session
// Manager tunnel. The Amazon plugin retries StartSession without limit
// while the instance's SSM agent is not connected (TargetNotConnected);
// this wait is what ends the build then. It allows for the boot, the
// user data that installs the agent, and the agent's registration.
const SSHTimeout = "15m"

// vars is what packer.pkr.hcl.tmpl is filled with.
type vars struct {
	Name, Digest, Description string
	OS, Architecture          string
	Owners                    []string
	NamePattern, ProductCode  string
	IncludeDeprecated         bool
	Region                    string
	CopyRegions               []string
	InstanceType              string
	SSHUsername               string
	DeviceName                string
	VolumeSizeGB              int
	VolumeType                string
	Encrypted                 bool
	KMSKeyID                  string
	RegionKMSKeyIDs           []kv
	Accounts                  []string
	Organizations             []string
	OrganizationalUnits       []string
	Tags                      []kv
	AgentVersion              string
	AgentVersionTag           string
	NetworkModes              []string
	AWSVPCBlockIMDS           bool
	ECSConfig                 []kv
	DataVolumes               []dataVolume
	AllowOverlayfs            bool
	SSMParameter              string
	// ManifestFile and ReportFile are file names (letters, digits, . and
	// -), joined to path.root inside a quoted string.
	ManifestFile, ReportFile string
	// UserData is the build instance's user data: the script that
	// installs the SSM agent, or empty when the OS's AMIs ship it.
	UserData   string
	OSTitle    string
	SSHTimeout string
	// AmazonPluginVersion is the required Amazon plugin's version.
	AmazonPluginVersion string
	// InstanceProfile is the build instance's profile by default, and
	// InstanceProfilePrefix what the builder policy lets it be named.
	InstanceProfile, InstanceProfilePrefix string
	// Tag names the tag keys (release's).
	Tag tagKeys
}

// tagKeys are the tag keys the template writes.
type tagKeys struct {
	SourceAMI, SourceAMIName, Image, DefinitionSHA256, OS, ECSAgentVersion, SSMParameter, BuildStarted string
}

var releaseTags = tagKeys{
	SourceAMI:        release.TagSourceAMI,
	SourceAMIName:    release.TagSourceAMIName,
	Image:            release.TagImage,
	DefinitionSHA256: release.TagDefinitionSHA256,
	OS:               release.TagOS,
	ECSAgentVersion:  release.TagECSAgentVersion,
	SSMParameter:     release.TagSSMParameter,
	BuildStarted:     release.TagBuildStarted,
}

type kv struct{ Key, Value string }

// ManifestFile is the name of the file the manifest post-processor writes
// beside the template: the AMI id in each region, and the image's
// provenance.
const ManifestFile = "manifest.json"

// ReportFile returns the name of the file the provisioner downloads the
// host script's report of the image name to, beside the template. The
// manifest names it too, relative to itself.
func ReportFile(name string) string { return "cisecs-report-" + name + ".json" }

var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Render returns the Packer template of img, formatted as packer fmt
// formats it. It is pure: the same image gives the same bytes. img is
// expected to come from images.Parse or images.Load; Render only refuses
// an image that would not make a template at all.
func Render(img images.Image) ([]byte, error) {
	osInfo, err := check(img)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", img.Name, err)
	}
	v := vars{
		Name:                img.Name,
		Digest:              img.Digest,
		Description:         img.Description,
		OS:                  img.Base.OS,
		Architecture:        img.Base.Architecture,
		Owners:              img.Base.Owners,
		NamePattern:         img.Base.NamePattern,
		ProductCode:         img.Base.ProductCode,
		IncludeDeprecated:   img.Base.IncludeDeprecated,
		Region:              img.Region,
		CopyRegions:         img.CopyRegions,
		InstanceType:        img.InstanceType,
		SSHUsername:         osInfo.SSHUsername,
		DeviceName:          img.Volume.DeviceName,
		VolumeSizeGB:        img.Volume.SizeGB,
		VolumeType:          img.Volume.Type,
		Encrypted:           img.Volume.Encrypted,
		KMSKeyID:            img.Volume.KMSKeyID,
		RegionKMSKeyIDs:     sorted(img.Volume.RegionKMSKeyIDs),
		Accounts:            img.Share.Accounts,
		Organizations:       img.Share.Organizations,
		OrganizationalUnits: img.Share.OrganizationalUnits,
		Tags:                sorted(img.Tags),
		AgentVersion:        img.ECS.AgentVersion,
		AgentVersionTag:     img.ECS.AgentVersion,
		NetworkModes:        img.ECS.NetworkModes,
		AWSVPCBlockIMDS:     img.ECS.AWSVPCBlockIMDS,
		ECSConfig:           sorted(img.ECS.Config),
		DataVolumes:         dataVolumes(img),
		AllowOverlayfs:      img.ECS.AllowOverlayfs,
		SSMParameter:        img.SSMParameter,
		ManifestFile:        ManifestFile,
		ReportFile:          ReportFile(img.Name),
		SSHTimeout:          SSHTimeout,
		OSTitle:             osInfo.Title,

		AmazonPluginVersion:   AmazonPluginVersion,
		InstanceProfile:       release.BuildInstanceProfile,
		InstanceProfilePrefix: release.BuildInstanceNamePrefix,
		Tag:                   releaseTags,
	}
	if osInfo.InstallSSMAgent {
		ud, err := ssmAgentUserData(img, osInfo)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", img.Name, err)
		}
		v.UserData = string(ud)
	}
	if v.DeviceName == "" {
		v.DeviceName = osInfo.RootDevice
	}
	if v.AgentVersionTag == "" {
		v.AgentVersionTag = release.NewestAgent
	}
	if v.Description == "" {
		v.Description = images.DefaultDescription(img)
	}
	if v.SSMParameter == "" {
		v.SSMParameter = images.DefaultSSMParameter(img.Name)
	}
	var b bytes.Buffer
	if err := packerTemplate.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("image %q: render packer template: %w", img.Name, err)
	}
	return hclwrite.Format(b.Bytes()), nil
}

// SSMAgentURL returns the URL of the SSM agent's rpm for arch (x86_64 or
// arm64) in region's bucket, which AWS documents for installing the agent
// on RHEL: https://s3.REGION.amazonaws.com/amazon-ssm-REGION/latest/linux_ARCH/amazon-ssm-agent.rpm.
func SSMAgentURL(region, arch string) string {
	goarch := "amd64"
	if arch == "arm64" {
		goarch = "arm64"
	}
	return "https://s3." + region + ".amazonaws.com/amazon-ssm-" + region + "/latest/linux_" + goarch + "/amazon-ssm-agent.rpm"
}

// SSMAgentUserData returns the build instance's user data of img: a bash
// script that installs and starts the SSM agent when it is not, or nil
// when img's OS ships the agent.
func SSMAgentUserData(img images.Image) ([]byte, error) {
	osInfo, err := check(img)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", img.Name, err)
	}
	if !osInfo.InstallSSMAgent {
		return nil, nil
	}
	return ssmAgentUserData(img, osInfo)
}

func ssmAgentUserData(img images.Image, osInfo images.OS) ([]byte, error) {
	var b bytes.Buffer
	err := ssmAgentTemplate.Execute(&b, ssmAgentVars{
		Name:         img.Name,
		OSTitle:      osInfo.Title,
		Architecture: img.Base.Architecture,
		URL:          SSMAgentURL(img.Region, img.Base.Architecture),
	})
	if err != nil {
		return nil, fmt.Errorf("render ssm agent user data: %w", err)
	}
	return b.Bytes(), nil
}

// check refuses an image that would not make a template, and returns its
// OS.
func check(img images.Image) (images.OS, error) {
	var errs []error
	if !images.ValidName(img.Name) {
		errs = append(errs, fmt.Errorf("not an image name"))
	}
	if !digestRE.MatchString(img.Digest) {
		errs = append(errs, fmt.Errorf("digest %q is not a hex SHA-256", img.Digest))
	}
	osInfo, ok := images.LookupOS(img.Base.OS)
	if !ok {
		errs = append(errs, fmt.Errorf("unknown os %q", img.Base.OS))
	}
	if !slices.Contains(images.Architectures(), img.Base.Architecture) {
		errs = append(errs, fmt.Errorf("unknown architecture %q", img.Base.Architecture))
	}
	if len(img.Base.Owners) == 0 {
		errs = append(errs, errors.New("no base AMI owners"))
	}
	if img.Base.NamePattern == "" && img.Base.ProductCode == "" {
		errs = append(errs, errors.New("no base AMI name pattern or product code"))
	}
	if img.Region == "" || img.InstanceType == "" || img.Volume.Type == "" || img.Volume.SizeGB <= 0 {
		errs = append(errs, errors.New("region, instance type or volume not set"))
	}
	if len(img.ECS.NetworkModes) == 0 {
		errs = append(errs, errors.New("no ECS network modes"))
	}
	return osInfo, errors.Join(errs...)
}

// sorted returns m's entries in key order.
func sorted(m map[string]string) []kv {
	var out []kv
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kv{k, m[k]})
	}
	return out
}

// quote returns s as an HCL quoted string, escaping what HCL would
// otherwise read as an interpolation (${) or a directive (%{).
func quote(s string) string {
	return string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes())
}

// list returns ss as a one-line HCL list of quoted strings.
func list(ss []string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(s))
	}
	b.WriteByte(']')
	return b.String()
}

// heredocEnd ends the heredocs heredoc writes; no line of their text may
// be it.
const heredocEnd = "EOT"

// heredoc returns s as an HCL heredoc whose value is s, with a final
// newline added if it has none: "${" and "%{" are escaped, as HCL would
// otherwise read them as an interpolation or a directive. It panics if a
// line of s is the heredoc's end marker, which would end it early
// (text/template reports the panic as an error).
func heredoc(s string) string {
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) == heredocEnd {
			panic(fmt.Sprintf("heredoc text has a line %q", heredocEnd))
		}
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	s = strings.ReplaceAll(s, "${", "$${")
	s = strings.ReplaceAll(s, "%{", "%%{")
	return "<<" + heredocEnd + "\n" + s + heredocEnd
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// key returns s as an HCL object key: bare when it is a plain identifier,
// quoted otherwise (and for the words HCL reads as values or keywords).
func key(s string) string {
	switch {
	case !identRE.MatchString(s), s == "true", s == "false", s == "null", s == "for", s == "in", s == "if":
		return quote(s)
	}
	return s
}
