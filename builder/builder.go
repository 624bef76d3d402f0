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
	"text/template"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/templates"
)

var packerTemplate = template.Must(template.New("packer.pkr.hcl.tmpl").
	Option("missingkey=error").
	Funcs(template.FuncMap{"q": quote, "list": list, "key": key}).
	ParseFS(templates.FS, "packer.pkr.hcl.tmpl"))

// vars is what packer.pkr.hcl.tmpl is filled with.
type vars struct {
	Name, Digest, Description string
	OS, Architecture          string
	Owners                    []string
	NamePattern, ProductCode  string
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
	SSMParameter              string
	// ManifestFile and ReportFile are file names (letters, digits, . and
	// -), joined to path.root inside a quoted string.
	ManifestFile, ReportFile string
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

// NewestAgent is the agent version tag of an image that does not pin one:
// the provisioner installs the newest the OS family's channel offers.
const NewestAgent = "newest"

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
		SSMParameter:        img.SSMParameter,
		ManifestFile:        ManifestFile,
		ReportFile:          ReportFile(img.Name),
	}
	if v.DeviceName == "" {
		v.DeviceName = osInfo.RootDevice
	}
	if v.AgentVersionTag == "" {
		v.AgentVersionTag = NewestAgent
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
