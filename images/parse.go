package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
)

// The settings of each block, in the order the documentation gives them.
var (
	imageAttrs  = []string{"description", "instance_type", "gate_instance_type", "region", "copy_regions", "tags", "ssm_parameter"}
	imageBlocks = []string{"base", "volume", "docker_volume", "audit_volume", "share", "ecs"}
	baseAttrs   = []string{"owners", "product_code", "name", "architecture", "os", "include_deprecated"}
	volumeAttrs = []string{"size_gb", "type", "encrypted", "kms_key_id", "region_kms_key_ids", "device_name"}
	shareAttrs  = []string{"accounts", "organizations", "organizational_units"}
	ecsAttrs    = []string{"agent_version", "network_modes", "awsvpc_block_imds", "allow_overlayfs", "config"}
)

var (
	nameRE         = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	accountRE      = regexp.MustCompile(`^[0-9]{12}$`)
	orgARNRE       = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}$`)
	ouARNRE        = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
	productCodeRE  = regexp.MustCompile(`^[a-z0-9]{8,32}$`)
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	deviceRE       = regexp.MustCompile(`^/dev/(sd[a-z][0-9]{0,2}|xvd[a-z]{1,2})$`)
	kmsKeyRE       = regexp.MustCompile(`^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/[A-Za-z0-9/_-]+)$`)
	kmsARNRE       = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:kms:([a-z]{2}(-[a-z]+)+-[0-9]+):[0-9]{12}:(key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|alias/[A-Za-z0-9/_-]+)$`)
	ssmParamRE     = regexp.MustCompile(`^(/[A-Za-z0-9_.-]+)+$`)
)

// ownerAliases are the AMI owner aliases a base may name besides account
// ids.
var ownerAliases = []string{"amazon", "aws-marketplace", "self"}

// volumeTypes are the EBS volume types a root volume may have (io1 and
// io2 would need an iops setting, which definitions do not have).
var volumeTypes = []string{"gp3", "gp2"}

// Limits AWS sets on what a definition names.
const (
	maxDescription = 255
	maxNamePattern = 128
	maxTags        = 40 // of 50 per resource; cisecs adds its own
	maxTagKey      = 128
	maxTagValue    = 256
	maxSSMParam    = 1011
	maxSSMDepth    = 15
)

// reservedTags are the tag keys cisecs sets itself; so are keys that start
// with "cisecs:".
var reservedTags = []string{"Name", "SourceAMI", "SourceAMIName"}

// Parse checks the definition src, read from filename, and returns the
// image with its defaults filled in. The file's base name less .hcl must be
// the image's name. A bad definition returns Problems, all of them.
func Parse(filename string, src []byte) (Image, error) {
	img, _, err := parse(filename, src)
	return img, err
}

// parse is Parse, also returning where the image's name is written.
func parse(filename string, src []byte) (Image, hcl.Pos, error) {
	d := &decoder{file: filename}
	img := d.parse(src)
	if len(d.probs) > 0 {
		d.probs.sort()
		return Image{}, hcl.Pos{}, d.probs
	}
	sum := sha256.Sum256(src)
	img.File = filename
	img.Digest = hex.EncodeToString(sum[:])
	return img, d.nameAt, nil
}

// decoder reads one definition file, collecting its problems.
type decoder struct {
	file   string
	probs  Problems
	nameAt hcl.Pos // where the image's name is written
}

// addf records a problem at pos.
func (d *decoder) addf(pos hcl.Pos, format string, a ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: pos.Line, Column: pos.Column, Message: fmt.Sprintf(format, a...)})
}

// syntax records HCL's syntax errors, worded like ours.
func (d *decoder) syntax(diags hcl.Diagnostics) {
	for _, diag := range diags {
		if diag.Severity != hcl.DiagError {
			continue
		}
		msg := sentence(diag.Summary)
		if diag.Detail != "" {
			msg += ": " + sentence(diag.Detail)
		}
		d.addf(subjectStart(diag, nil), "%s", msg)
	}
}

// subjectStart returns where diag points, or where e starts if it points
// nowhere.
func subjectStart(diag *hcl.Diagnostic, e hclsyntax.Expression) hcl.Pos {
	switch {
	case diag.Subject != nil:
		return diag.Subject.Start
	case e != nil:
		return e.Range().Start
	}
	return hcl.InitialPos
}

// sentence lower-cases the first letter of s and drops its final period,
// so that HCL's messages read like ours.
func sentence(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || (len(s) > n && unicode.IsUpper(rune(s[n]))) {
		return s // empty, or an acronym such as "UTF-8"
	}
	return string(unicode.ToLower(r)) + s[n:]
}

func (d *decoder) parse(src []byte) Image {
	name := strings.TrimSuffix(filepath.Base(d.file), ".hcl")
	if !strings.HasSuffix(d.file, ".hcl") {
		d.addf(hcl.Pos{}, "a definition's file name is the image name followed by .hcl")
	}
	f, diags := hclsyntax.ParseConfig(src, d.file, hcl.InitialPos)
	if diags.HasErrors() {
		d.syntax(diags)
		return Image{}
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		d.addf(hcl.InitialPos, "not HCL native syntax")
		return Image{}
	}
	for _, a := range sortedAttrs(body) {
		d.addf(a.NameRange.Start, "%s: unknown attribute; a definition holds one image block and nothing else", a.Name)
	}
	var block *hclsyntax.Block
	for _, b := range body.Blocks {
		switch {
		case b.Type != "image":
			d.addf(b.TypeRange.Start, "%s: unknown block; a definition holds one image block and nothing else", b.Type)
		case block != nil:
			d.addf(b.TypeRange.Start, "image: a second image block; a definition holds one image (the first is at %s)", at(block.TypeRange.Start))
		default:
			block = b
		}
	}
	if block == nil {
		d.addf(hcl.InitialPos, "image: no image block; write image %q { ... }", name)
		return Image{}
	}
	return d.image(block, name)
}

// image reads the image block; fileName is the name its file gives it.
func (d *decoder) image(b *hclsyntax.Block, fileName string) Image {
	img := Image{Name: fileName}
	if len(b.Labels) != 1 {
		d.addf(b.TypeRange.Start, "image: takes one label, the image name: image %q { ... }", fileName)
	} else {
		at := b.LabelRanges[0].Start
		d.nameAt = at
		switch name := b.Labels[0]; {
		case !nameRE.MatchString(name):
			d.addf(at, "image %q: a name is 1 to 64 lower-case letters, digits and hyphens, starting and ending with a letter or digit", name)
		case name != fileName:
			d.addf(at, "image %q: the name must be the file's name, %q", name, fileName)
		}
	}

	c := d.content(b.Body, "", imageAttrs, imageBlocks)
	if a := c.attrs["description"]; a != nil {
		if s, ok := d.str(a, "description"); ok {
			if n := utf8.RuneCountInString(s); n > maxDescription {
				d.addf(a.Expr.Range().Start, "description: %d characters, more than the %d an AMI description may have", n, maxDescription)
			}
			img.Description = s
		}
	}

	if bb := c.blocks["base"]; bb != nil {
		img.Base = d.base(bb)
	} else {
		d.addf(b.TypeRange.Start, "base: required block is missing: base { owners = [...], name = \"...\", architecture = \"...\", os = \"...\" }")
	}

	img.InstanceType = d.instanceType(c.attrs["instance_type"], "instance_type", img.Base.Architecture, release.BuildInstanceType)
	img.GateInstanceType = d.instanceType(c.attrs["gate_instance_type"], "gate_instance_type", img.Base.Architecture, release.GateInstanceType)

	regionOK := false
	if a := c.attrs["region"]; a != nil {
		if s, ok := d.str(a, "region"); ok {
			regionOK = d.region(s, a.Expr.Range().Start, "region")
			img.Region = s
		}
	} else {
		d.addf(b.TypeRange.Start, "region: required attribute is missing: the region to build in, such as \"us-east-1\"")
	}

	if a := c.attrs["copy_regions"]; a != nil {
		items, _ := d.strList(a, "copy_regions")
		seen := map[string]hcl.Pos{}
		for _, it := range items {
			switch first, dup := seen[it.v]; {
			case dup:
				d.addf(it.pos, "copy_regions: %q is listed twice (first at %s)", it.v, at(first))
			case !d.region(it.v, it.pos, "copy_regions"):
			case regionOK && it.v == img.Region:
				d.addf(it.pos, "copy_regions: %q is the build region; the AMI is made there already", it.v)
			default:
				seen[it.v] = it.pos
				img.CopyRegions = append(img.CopyRegions, it.v)
			}
		}
	}

	img.Volume = Volume{SizeGB: DefaultVolumeSizeGB, Type: DefaultVolumeType, Encrypted: true}
	if o, ok := LookupOS(img.Base.OS); ok {
		img.Volume.DeviceName = o.RootDevice
	}
	var vol volumeAt
	if vb := c.blocks["volume"]; vb != nil {
		keyRegion := ""
		if regionOK {
			keyRegion = img.Region
		}
		vol = d.volume(vb, &img.Volume, keyRegion, img.CopyRegions)
	}

	d.dataVolumes(c.blocks, &img)

	var shareAt hcl.Pos
	if sb := c.blocks["share"]; sb != nil {
		img.Share = d.share(sb)
		shareAt = sb.TypeRange.Start
	}
	d.encryption(img, vol, shareAt)

	if a := c.attrs["tags"]; a != nil {
		img.Tags = d.tags(a)
	}

	img.ECS = ECS{NetworkModes: slices.Clone(release.NetworkModes()), AWSVPCBlockIMDS: true}
	if eb := c.blocks["ecs"]; eb != nil {
		d.ecs(eb, &img.ECS)
	}

	img.SSMParameter = DefaultSSMParameter(img.Name)
	if a := c.attrs["ssm_parameter"]; a != nil {
		if s, ok := d.str(a, "ssm_parameter"); ok {
			d.ssmParameter(s, a.Expr.Range().Start)
			img.SSMParameter = s
		}
	}
	if img.Description == "" {
		img.Description = DefaultDescription(img)
	}
	return img
}

func (d *decoder) base(b *hclsyntax.Block) Base {
	var base Base
	c := d.content(b.Body, "base", baseAttrs, nil)
	at := b.TypeRange.Start
	if a := c.attrs["owners"]; a != nil {
		items, ok := d.strList(a, "base.owners")
		if ok && len(items) == 0 {
			d.addf(a.Expr.Range().Start, "base.owners: empty; name the AMI's owner, such as \"aws-marketplace\"")
		}
		for _, it := range items {
			if !accountRE.MatchString(it.v) && !slices.Contains(ownerAliases, it.v) {
				d.addf(it.pos, "base.owners: %q is neither a 12-digit account id nor one of %s", it.v, strings.Join(ownerAliases, ", "))
			}
			base.Owners = append(base.Owners, it.v)
		}
	} else {
		d.addf(at, "base.owners: required attribute is missing: the AMI's owners, such as [\"aws-marketplace\"]")
	}
	if a := c.attrs["product_code"]; a != nil {
		if s, ok := d.str(a, "base.product_code"); ok {
			if !productCodeRE.MatchString(s) {
				d.addf(a.Expr.Range().Start, "base.product_code: %q is not an AWS Marketplace product code (lower-case letters and digits)", s)
			}
			base.ProductCode = s
		}
	}
	if a := c.attrs["name"]; a != nil {
		if s, ok := d.str(a, "base.name"); ok {
			switch n := utf8.RuneCountInString(s); {
			case n == 0:
				d.addf(a.Expr.Range().Start, "base.name: empty; give an AMI name pattern such as \"CIS Amazon Linux 2023 Benchmark - Level 1*\"")
			case n > maxNamePattern:
				d.addf(a.Expr.Range().Start, "base.name: %d characters, more than the %d an AMI name may have", n, maxNamePattern)
			}
			base.NamePattern = s
		}
	}
	if a := c.attrs["include_deprecated"]; a != nil {
		if b, ok := d.boolean(a, "base.include_deprecated"); ok {
			base.IncludeDeprecated = b
		}
	}
	if c.attrs["name"] == nil && c.attrs["product_code"] == nil {
		d.addf(at, "base: set name (an AMI name pattern), product_code, or both, so that the base is not any AMI of its owners")
	}
	if a := c.attrs["architecture"]; a != nil {
		if s, ok := d.str(a, "base.architecture"); ok {
			if !slices.Contains(Architectures(), s) {
				d.addf(a.Expr.Range().Start, "base.architecture: unknown architecture %q (architectures are %s)", s, strings.Join(Architectures(), ", "))
			}
			base.Architecture = s
		}
	} else {
		d.addf(at, "base.architecture: required attribute is missing: %s", strings.Join(Architectures(), " or "))
	}
	if a := c.attrs["os"]; a != nil {
		if s, ok := d.str(a, "base.os"); ok {
			if _, known := LookupOS(s); !known {
				var names []string
				for _, o := range OSes() {
					names = append(names, o.Name)
				}
				d.addf(a.Expr.Range().Start, "base.os: unknown OS %q (OSes are %s)", s, strings.Join(names, ", "))
			}
			base.OS = s
		}
	} else {
		d.addf(at, "base.os: required attribute is missing, such as \"al2023\"")
	}
	return base
}

// volumeAt holds where the volume's encryption settings are, for the
// checks that involve other settings.
type volumeAt struct {
	encrypted, kmsKeyID, regionKeys hcl.Pos
}

// volume reads the volume block into v, whose defaults are set.
func (d *decoder) volume(b *hclsyntax.Block, v *Volume, region string, copyRegions []string) volumeAt {
	var at volumeAt
	c := d.content(b.Body, "volume", volumeAttrs, nil)
	if a := c.attrs["size_gb"]; a != nil {
		if n, ok := d.integer(a, "volume.size_gb"); ok {
			if n < MinVolumeSizeGB || n > MaxVolumeSizeGB {
				d.addf(a.Expr.Range().Start, "volume.size_gb: %d is outside %d to %d", n, MinVolumeSizeGB, MaxVolumeSizeGB)
			}
			v.SizeGB = n
		}
	}
	if a := c.attrs["type"]; a != nil {
		if s, ok := d.str(a, "volume.type"); ok {
			if !slices.Contains(volumeTypes, s) {
				d.addf(a.Expr.Range().Start, "volume.type: %q is not a root volume type (types are %s)", s, strings.Join(volumeTypes, ", "))
			}
			v.Type = s
		}
	}
	if a := c.attrs["encrypted"]; a != nil {
		at.encrypted = a.Expr.Range().Start
		if e, ok := d.boolean(a, "volume.encrypted"); ok {
			v.Encrypted = e
		}
	}
	if a := c.attrs["kms_key_id"]; a != nil {
		at.kmsKeyID = a.Expr.Range().Start
		if s, ok := d.str(a, "volume.kms_key_id"); ok {
			d.kmsKey(s, at.kmsKeyID, "volume.kms_key_id", region)
			v.KMSKeyID = s
		}
	}
	if a := c.attrs["region_kms_key_ids"]; a != nil {
		at.regionKeys = a.Expr.Range().Start
		entries, ok := d.strMap(a, "volume.region_kms_key_ids")
		for _, e := range entries {
			if !slices.Contains(copyRegions, e.k) {
				d.addf(e.keyPos, "volume.region_kms_key_ids: %q is not one of copy_regions", e.k)
				continue
			}
			d.kmsKey(e.v, e.valPos, "volume.region_kms_key_ids", e.k)
			if v.RegionKMSKeyIDs == nil {
				v.RegionKMSKeyIDs = map[string]string{}
			}
			v.RegionKMSKeyIDs[e.k] = e.v
		}
		if ok && len(entries) > 0 {
			for _, r := range copyRegions {
				if _, set := v.RegionKMSKeyIDs[r]; !set {
					d.addf(at.regionKeys, "volume.region_kms_key_ids: no key for copy region %q; once one copy region has a key, every one needs one", r)
				}
			}
		}
	}
	if a := c.attrs["device_name"]; a != nil {
		if s, ok := d.str(a, "volume.device_name"); ok {
			if !deviceRE.MatchString(s) {
				d.addf(a.Expr.Range().Start, "volume.device_name: %q is not a device name such as /dev/xvda or /dev/sda1", s)
			}
			v.DeviceName = s
		}
	}
	return at
}

// kmsKey checks a KMS key id, alias or ARN used in region.
func (d *decoder) kmsKey(s string, pos hcl.Pos, path, region string) {
	if m := kmsARNRE.FindStringSubmatch(s); m != nil {
		if region != "" && m[2] != region {
			d.addf(pos, "%s: key %q is in region %q, not %q", path, s, m[2], region)
		}
		if strings.Contains(s, ":alias/aws/") {
			d.addf(pos, "%s: %q is an AWS managed key; leave the key out to use it", path, s)
		}
		return
	}
	switch {
	case !kmsKeyRE.MatchString(s):
		d.addf(pos, "%s: %q is not a KMS key id, alias/NAME or key ARN", path, s)
	case strings.HasPrefix(s, "alias/aws/"):
		d.addf(pos, "%s: %q is an AWS managed key; leave the key out to use it", path, s)
	}
}

func (d *decoder) share(b *hclsyntax.Block) Share {
	var s Share
	c := d.content(b.Body, "share", shareAttrs, nil)
	list := func(name, what string, re *regexp.Regexp) []string {
		a := c.attrs[name]
		if a == nil {
			return nil
		}
		items, _ := d.strList(a, "share."+name)
		var out []string
		seen := map[string]bool{}
		for _, it := range items {
			switch {
			case !re.MatchString(it.v):
				d.addf(it.pos, "share.%s: %q is not %s", name, it.v, what)
			case seen[it.v]:
				d.addf(it.pos, "share.%s: %q is listed twice", name, it.v)
			default:
				seen[it.v] = true
				out = append(out, it.v)
			}
		}
		return out
	}
	s.Accounts = list("accounts", "a 12-digit AWS account id", accountRE)
	s.Organizations = list("organizations", "an organization ARN (arn:aws:organizations::ACCOUNT:organization/o-ID)", orgARNRE)
	s.OrganizationalUnits = list("organizational_units", "an organizational unit ARN (arn:aws:organizations::ACCOUNT:ou/o-ID/ou-ID)", ouARNRE)
	return s
}

// encryption checks the volume's encryption settings against each other
// and against the sharing: an AMI encrypted with an AWS managed key cannot
// be launched by anybody else.
func (d *decoder) encryption(img Image, at volumeAt, shareAt hcl.Pos) {
	v := img.Volume
	if !v.Encrypted {
		if v.KMSKeyID != "" {
			d.addf(at.kmsKeyID, "volume.kms_key_id: set, but volume.encrypted is false")
		}
		if len(v.RegionKMSKeyIDs) > 0 {
			d.addf(at.regionKeys, "volume.region_kms_key_ids: set, but volume.encrypted is false")
		}
		return
	}
	if img.Share.Empty() {
		return
	}
	if v.KMSKeyID == "" {
		d.addf(shareAt, "share: the AMI is encrypted with the AWS managed key, which cannot be shared; set volume.kms_key_id to a customer managed key the accounts may use")
	}
	for _, r := range img.CopyRegions {
		if v.RegionKMSKeyIDs[r] == "" {
			d.addf(shareAt, "share: the copy in %q is encrypted with that region's AWS managed key, which cannot be shared; give it a key in volume.region_kms_key_ids", r)
		}
	}
}

func (d *decoder) tags(a *hclsyntax.Attribute) map[string]string {
	entries, _ := d.strMap(a, "tags")
	if len(entries) > maxTags {
		d.addf(a.Expr.Range().Start, "tags: %d tags, more than the %d cisecs leaves room for", len(entries), maxTags)
	}
	tags := map[string]string{}
	for _, e := range entries {
		switch {
		case e.k == "" || utf8.RuneCountInString(e.k) > maxTagKey:
			d.addf(e.keyPos, "tags: key %q is not 1 to %d characters", e.k, maxTagKey)
		case strings.HasPrefix(strings.ToLower(e.k), "aws:"):
			d.addf(e.keyPos, "tags: key %q: the aws: prefix is AWS's own", e.k)
		case slices.Contains(reservedTags, e.k) || strings.HasPrefix(e.k, "cisecs:"):
			d.addf(e.keyPos, "tags: key %q is set by cisecs (the AMI's provenance)", e.k)
		case utf8.RuneCountInString(e.v) > maxTagValue:
			d.addf(e.valPos, "tags: value of %q is longer than %d characters", e.k, maxTagValue)
		default:
			tags[e.k] = e.v
		}
	}
	return tags
}

// ecs reads the ecs block into e, whose defaults are set. The host script's
// own Validate checks the values, one at a time so that each problem is
// reported where it is.
func (d *decoder) ecs(b *hclsyntax.Block, e *ECS) {
	c := d.content(b.Body, "ecs", ecsAttrs, nil)
	check := func(pos hcl.Pos, path string, o hostscript.Options) {
		for _, err := range unjoin(o.Validate()) {
			msg := err.Error()
			if _, rest, ok := strings.Cut(msg, ": "); ok {
				msg = rest
			}
			d.addf(pos, "%s: %s", path, msg)
		}
	}
	if a := c.attrs["agent_version"]; a != nil {
		if s, ok := d.str(a, "ecs.agent_version"); ok {
			check(a.Expr.Range().Start, "ecs.agent_version", hostscript.Options{AgentVersion: s})
			e.AgentVersion = s
		}
	}
	if a := c.attrs["network_modes"]; a != nil {
		items, ok := d.strList(a, "ecs.network_modes")
		if ok && len(items) == 0 {
			d.addf(a.Expr.Range().Start, "ecs.network_modes: empty; leave it out for all (%s)", strings.Join(release.NetworkModes(), ", "))
		}
		e.NetworkModes = nil
		for _, it := range items {
			if slices.Contains(e.NetworkModes, it.v) {
				d.addf(it.pos, "ecs.network_modes: %q is listed twice", it.v)
				continue
			}
			check(it.pos, "ecs.network_modes", hostscript.Options{NetworkModes: []string{it.v}})
			e.NetworkModes = append(e.NetworkModes, it.v)
		}
		if len(e.NetworkModes) == 0 {
			e.NetworkModes = slices.Clone(release.NetworkModes())
		}
	}
	if a := c.attrs["awsvpc_block_imds"]; a != nil {
		if v, ok := d.boolean(a, "ecs.awsvpc_block_imds"); ok {
			e.AWSVPCBlockIMDS = v
		}
	}
	if a := c.attrs["allow_overlayfs"]; a != nil {
		if v, ok := d.boolean(a, "ecs.allow_overlayfs"); ok {
			e.AllowOverlayfs = v
		}
	}
	if a := c.attrs["config"]; a != nil {
		entries, _ := d.strMap(a, "ecs.config")
		for _, en := range entries {
			if en.k == "ECS_AWSVPC_BLOCK_IMDS" {
				d.addf(en.keyPos, "ecs.config: set ECS_AWSVPC_BLOCK_IMDS with ecs.awsvpc_block_imds")
				continue
			}
			check(en.keyPos, "ecs.config", hostscript.Options{ECSConfig: map[string]string{en.k: en.v}})
			if e.Config == nil {
				e.Config = map[string]string{}
			}
			e.Config[en.k] = en.v
		}
	}
}

// unjoin returns the errors errors.Join joined, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// region checks an AWS region name.
func (d *decoder) region(s string, pos hcl.Pos, path string) bool {
	if !release.IsRegion(s) {
		d.addf(pos, "%s: %q is not an AWS region name such as us-east-1", path, s)
		return false
	}
	return true
}

func (d *decoder) ssmParameter(s string, pos hcl.Pos) {
	lower := strings.ToLower(s)
	switch {
	case !ssmParamRE.MatchString(s):
		d.addf(pos, "ssm_parameter: %q is not a parameter path such as /cisecs/NAME/ami-id (letters, digits and . _ - between slashes)", s)
	case len(s) > maxSSMParam:
		d.addf(pos, "ssm_parameter: longer than %d characters", maxSSMParam)
	case strings.Count(s, "/") > maxSSMDepth:
		d.addf(pos, "ssm_parameter: more than %d levels", maxSSMDepth)
	case strings.HasPrefix(lower, "/aws") || strings.HasPrefix(lower, "/ssm"):
		d.addf(pos, "ssm_parameter: %q: names that start with aws or ssm are reserved", s)
	}
}

// content checks a block's body against the attributes and blocks allowed
// in it, reporting the others, and returns those allowed by name. path is
// the block's place ("" for the image block).
func (d *decoder) content(body *hclsyntax.Body, path string, attrNames, blockNames []string) content {
	c := content{attrs: map[string]*hclsyntax.Attribute{}, blocks: map[string]*hclsyntax.Block{}}
	for _, a := range sortedAttrs(body) {
		if !slices.Contains(attrNames, a.Name) {
			d.addf(a.NameRange.Start, "%s: unknown attribute%s", join(path, a.Name), hint(a.Name, attrNames, blockNames, true))
			continue
		}
		c.attrs[a.Name] = a
	}
	for _, b := range body.Blocks {
		p := join(path, b.Type)
		if !slices.Contains(blockNames, b.Type) {
			d.addf(b.TypeRange.Start, "%s: unknown block%s", p, hint(b.Type, attrNames, blockNames, false))
			continue
		}
		if first := c.blocks[b.Type]; first != nil {
			d.addf(b.TypeRange.Start, "%s: a second %s block (the first is at %s)", p, b.Type, at(first.TypeRange.Start))
			continue
		}
		if len(b.Labels) > 0 {
			d.addf(b.LabelRanges[0].Start, "%s: takes no labels", p)
		}
		c.blocks[b.Type] = b
	}
	return c
}

// content is what a block's body holds, by name.
type content struct {
	attrs  map[string]*hclsyntax.Attribute
	blocks map[string]*hclsyntax.Block
}

// hint suggests what an unknown attribute (isAttr) or block named name
// was meant to be.
func hint(name string, attrNames, blockNames []string, isAttr bool) string {
	switch {
	case isAttr && slices.Contains(blockNames, name):
		return fmt.Sprintf("; %s is a block: %s { ... }", name, name)
	case !isAttr && slices.Contains(attrNames, name):
		return fmt.Sprintf("; %s is an attribute: %s = ...", name, name)
	}
	want := attrNames
	if !isAttr {
		want = blockNames
	}
	best, bestDist := "", 3
	for _, w := range want {
		if dist := distance(name, w); dist < bestDist {
			best, bestDist = w, dist
		}
	}
	switch {
	case best != "":
		return fmt.Sprintf(" (did you mean %s?)", best)
	case len(want) == 0 && isAttr:
		return "; this block takes no attributes"
	case len(want) == 0:
		return "; this block takes no blocks"
	case isAttr:
		return " (attributes here are " + strings.Join(want, ", ") + ")"
	default:
		return " (blocks here are " + strings.Join(want, ", ") + ")"
	}
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// at returns pos as "line:col".
func at(pos hcl.Pos) string { return fmt.Sprintf("%d:%d", pos.Line, pos.Column) }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// sortedAttrs returns body's attributes in source order.
func sortedAttrs(body *hclsyntax.Body) []*hclsyntax.Attribute {
	attrs := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		attrs = append(attrs, a)
	}
	slices.SortFunc(attrs, func(a, b *hclsyntax.Attribute) int { return a.SrcRange.Start.Byte - b.SrcRange.Start.Byte })
	return attrs
}

// instanceType reads the instance type attribute a (nil: the default of
// arch), which must be of arch: EC2 launches an AMI only on an instance
// type of the AMI's architecture.
func (d *decoder) instanceType(a *hclsyntax.Attribute, name, arch string, def func(string) string) string {
	if a == nil {
		return def(arch)
	}
	s, ok := d.str(a, name)
	if !ok {
		return def(arch)
	}
	if !instanceTypeRE.MatchString(s) {
		d.addf(a.Expr.Range().Start, "%s: %q is not an EC2 instance type such as %s", name, s, def("x86_64"))
		return s
	}
	if got := instanceTypeArchitecture(s); arch != "" && got != arch {
		d.addf(a.Expr.Range().Start, "%s: %q is an %s instance type, and the base AMI is %s: want one like %s", name, s, got, arch, def(arch))
	}
	return s
}
