// Package due decides whether an image is due for a rebuild. It finds
// the newest CIS-hardened base AMI that matches the image's definition,
// the same AMI the build's data "amazon-ami" source would pick, and
// compares it, the definition's digest and the pinned ECS agent version
// with the provenance the build tagged the last released AMI with (the AMI
// whose id the image's SSM parameter holds: SourceAMI,
// cisecs:definition-sha256, cisecs:ecs-agent-version).
//
// Decide is the decision alone, a pure function; Checker gathers what it
// needs from EC2 and SSM. "cisecs source" prints the Decision as JSON, whose
// "due" field (pipeline.SourceDueField) the nightly workflow reads.
package due

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/release"
)

// Code names why an image is due. The codes are stable: scripts may match
// them.
type Code string

// The reasons an image is due.
const (
	// NeverReleased: the image's SSM parameter does not exist.
	NeverReleased Code = "never-released"
	// ReleasedAMIMissing: the parameter names an AMI that no longer
	// exists. Nothing is compared then.
	ReleasedAMIMissing Code = "released-ami-missing"
	// NewBaseAMI: the newest matching base AMI is not the one the released
	// AMI was built from.
	NewBaseAMI Code = "new-base-ami"
	// AgentVersionChanged: the definition pins another ECS agent version
	// than the released AMI's (or pins one where it took the newest, or the
	// other way round).
	AgentVersionChanged Code = "agent-version-changed"
	// DefinitionChanged: the definition file's digest differs from the
	// released AMI's.
	DefinitionChanged Code = "definition-changed"
	// NewAgentRelease: the definition takes the newest agent, and AWS has
	// released a newer one than the released AMI carries (or the released
	// AMI does not say which it carries).
	NewAgentRelease Code = "new-agent-release"
)

// Reason is one reason an image is due.
type Reason struct {
	// Code says which reason it is.
	Code Code `json:"code"`
	// Message says it for people.
	Message string `json:"message"`
	// Old is the released AMI's value and New the current one, for the
	// reasons that compare two: AMI ids (new-base-ami), agent versions,
	// digests. Old is the missing AMI's id for released-ami-missing.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
}

// AMI is a base AMI.
type AMI struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Created is its creation date.
	Created time.Time `json:"created"`
	// ProductCodes are its AWS Marketplace product codes: the product the
	// account must be subscribed to.
	ProductCodes []string `json:"product_codes"`
	// RootDevice is its root device's name, and RootSnapshotGB the size of
	// that device's snapshot in GiB (zero if the AMI does not say).
	RootDevice     string `json:"root_device"`
	RootSnapshotGB int    `json:"root_snapshot_gb"`
}

// String returns "ami-... (name)".
func (a AMI) String() string { return fmt.Sprintf("%s (%s)", a.ID, a.Name) }

// Released is the image's last release: the AMI its SSM parameter holds,
// and that AMI's provenance tags.
type Released struct {
	// Parameter is the image's SSM parameter.
	Parameter string `json:"parameter"`
	// AMI is the parameter's value; empty when the parameter does not
	// exist (the image was never released).
	AMI string `json:"ami,omitempty"`
	// Exists says the AMI still exists.
	Exists bool `json:"exists"`
	// Name is the AMI's name.
	Name string `json:"name,omitempty"`
	// SourceAMI, SourceAMIName, DefinitionSHA256 and ECSAgentVersion are
	// its provenance tags; empty when absent.
	SourceAMI        string `json:"source_ami,omitempty"`
	SourceAMIName    string `json:"source_ami_name,omitempty"`
	DefinitionSHA256 string `json:"definition_sha256,omitempty"`
	ECSAgentVersion  string `json:"ecs_agent_version,omitempty"`
	// ECSAgentInstalled is the agent version it carries, as the gate
	// tagged it; empty when absent.
	ECSAgentInstalled string `json:"ecs_agent_installed,omitempty"`
}

// Decision says whether an image is due for a rebuild, and why. Its JSON
// is what "cisecs source" prints for one image.
type Decision struct {
	// Image is the image's name, Definition its definition file.
	Image      string `json:"image"`
	Definition string `json:"definition"`
	// Region is where the base AMI and the release were looked up.
	Region string `json:"region"`
	// Due says the image should be rebuilt: there is at least one reason.
	// Its JSON name is pipeline.SourceDueField.
	Due bool `json:"due"`
	// Reasons are why, in a fixed order; empty (never null) when not due.
	Reasons []Reason `json:"reasons"`
	// Message sums the decision up in one line: "up to date: base
	// ami-... (name)" or "due: CODE, CODE".
	Message string `json:"message"`
	// Base is the newest base AMI that matches the definition.
	Base AMI `json:"base"`
	// DefinitionSHA256 is the definition file's digest now.
	DefinitionSHA256 string `json:"definition_sha256"`
	// ECSAgentVersion is the agent version the definition pins, or
	// release.NewestAgent.
	ECSAgentVersion string `json:"ecs_agent_version"`
	// LatestAgent is the newest ECS agent release, looked up only when
	// the definition takes the newest.
	LatestAgent string `json:"latest_agent,omitempty"`
	// Released is the last release.
	Released Released `json:"released"`
}

// AgentVersion is the agent version tag a build of img writes: the pinned
// version, or release.NewestAgent.
func AgentVersion(img images.Image) string {
	if img.ECS.AgentVersion == "" {
		return release.NewestAgent
	}
	return img.ECS.AgentVersion
}

// Parameter is the SSM parameter that holds img's released AMI id.
func Parameter(img images.Image) string {
	if img.SSMParameter == "" {
		return images.DefaultSSMParameter(img.Name)
	}
	return img.SSMParameter
}

// Decide decides whether img is due, given the newest matching base AMI,
// its last release and, for a definition that takes the newest agent, the
// newest agent release (empty: not looked up). It is pure.
//
// An image is due when it was never released, when its released AMI no
// longer exists, or when the released AMI's provenance differs from now:
// another base AMI, another pinned agent version, another definition, or
// an older agent than the newest release. A provenance tag the released
// AMI lacks counts as different.
func Decide(img images.Image, base AMI, rel Released, latestAgent string) Decision {
	d := Decision{
		Image:            img.Name,
		Definition:       img.File,
		Region:           img.Region,
		Reasons:          []Reason{},
		Base:             base,
		DefinitionSHA256: img.Digest,
		ECSAgentVersion:  AgentVersion(img),
		LatestAgent:      latestAgent,
		Released:         rel,
	}
	add := func(code Code, old, new, format string, a ...any) {
		d.Reasons = append(d.Reasons, Reason{Code: code, Message: fmt.Sprintf(format, a...), Old: old, New: new})
	}
	switch {
	case rel.AMI == "":
		add(NeverReleased, "", "", "never released: parameter %s does not exist", rel.Parameter)
	case !rel.Exists:
		add(ReleasedAMIMissing, rel.AMI, "", "parameter %s holds %s, which no longer exists", rel.Parameter, rel.AMI)
	default:
		if rel.SourceAMI != base.ID {
			if rel.SourceAMI == "" {
				add(NewBaseAMI, "", base.ID, "released AMI %s has no %s tag; base is now %s", rel.AMI, release.TagSourceAMI, base)
			} else {
				add(NewBaseAMI, rel.SourceAMI, base.ID, "new base AMI: %s (%s) -> %s", rel.SourceAMI, orUnknown(rel.SourceAMIName), base)
			}
		}
		if v := d.ECSAgentVersion; rel.ECSAgentVersion != v {
			wants := "pins " + v
			if v == release.NewestAgent {
				wants = "takes the newest"
			}
			add(AgentVersionChanged, rel.ECSAgentVersion, v, "ECS agent version: released AMI %s has %s, the definition %s",
				rel.AMI, orNoTag(rel.ECSAgentVersion, release.TagECSAgentVersion), wants)
		}
		if latestAgent != "" && d.ECSAgentVersion == release.NewestAgent && rel.ECSAgentVersion == release.NewestAgent {
			switch {
			case rel.ECSAgentInstalled == "":
				add(NewAgentRelease, "", latestAgent, "ECS agent: released AMI %s has no %s tag; the newest release is %s",
					rel.AMI, release.TagECSAgentInstalled, latestAgent)
			case olderVersion(rel.ECSAgentInstalled, latestAgent):
				add(NewAgentRelease, rel.ECSAgentInstalled, latestAgent, "new ECS agent release: released AMI %s has %s, the newest is %s",
					rel.AMI, rel.ECSAgentInstalled, latestAgent)
			}
		}
		if rel.DefinitionSHA256 != img.Digest {
			add(DefinitionChanged, rel.DefinitionSHA256, img.Digest, "definition %s changed: sha256 %s (released AMI %s) -> %s",
				img.File, orNoTag(short(rel.DefinitionSHA256), release.TagDefinitionSHA256), rel.AMI, short(img.Digest))
		}
	}
	d.Due = len(d.Reasons) > 0
	if d.Due {
		var codes []string
		for _, r := range d.Reasons {
			codes = append(codes, string(r.Code))
		}
		d.Message = "due: " + strings.Join(codes, ", ")
	} else {
		d.Message = "up to date: base " + base.String()
	}
	return d
}

// Fits checks that the build's launch volume of img replaces base's root
// volume, as EC2 needs: RunInstances takes a block device mapping whose
// name the AMI does not have for a new, empty volume (the root then keeps
// its snapshot's size, and the empty volume is baked into the image), and
// refuses a root volume smaller than its snapshot. The error names the
// definition's setting to change.
func Fits(img images.Image, base AMI) error {
	var errs []string
	if base.RootDevice != "" && base.RootDevice != img.Volume.DeviceName {
		errs = append(errs, fmt.Sprintf("its root device is %s, but the build would launch its root volume as %s, which EC2 adds as a second, empty volume: set volume { device_name = %q }",
			base.RootDevice, img.Volume.DeviceName, base.RootDevice))
	}
	if base.RootSnapshotGB > img.Volume.SizeGB {
		errs = append(errs, fmt.Sprintf("its root snapshot is %d GiB, more than the build's %d GiB root volume, which EC2 refuses: set volume { size_gb = %d } or more",
			base.RootSnapshotGB, img.Volume.SizeGB, base.RootSnapshotGB))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: image %q: base %s: %s", img.File, img.Name, base, strings.Join(errs, "; "))
}

// olderVersion says whether version a (like 1.86.3) is older than b. A
// version that does not parse is older than any.
func olderVersion(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	if pa == nil {
		return pb != nil
	}
	if pb == nil {
		return false
	}
	return slices.Compare(pa, pb) < 0
}

// versionParts returns the numbers of a dotted version, nil if it is not
// one.
func versionParts(v string) []int {
	var out []int
	for _, f := range strings.Split(v, ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil
		}
		out = append(out, n)
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "name unknown"
	}
	return s
}

func orNoTag(s, tag string) string {
	if s == "" {
		return "no " + tag + " tag"
	}
	return s
}

// short returns the first 12 digits of a digest.
func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
