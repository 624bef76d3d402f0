package due

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/release"
)

// ImagesAPI is the part of EC2 the Checker uses: it finds base AMIs and
// reads the released AMI.
type ImagesAPI interface {
	ec2.DescribeImagesAPIClient
}

// ParameterAPI is the part of SSM the Checker uses: it reads the released
// AMI id.
type ParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// The SDK's clients satisfy the interfaces.
var (
	_ ImagesAPI    = (*ec2.Client)(nil)
	_ ParameterAPI = (*ssm.Client)(nil)
)

// ErrNoBaseAMI is wrapped by Check's and Base's error when no available,
// undeprecated AMI matches the image's base: the image cannot be built, so
// it is neither due nor up to date.
var ErrNoBaseAMI = errors.New("no base AMI matches")

// Checker looks up what Decide needs in one region. It only reads.
type Checker struct {
	EC2 ImagesAPI
	SSM ParameterAPI
	// Region is where the clients look; empty is each image's own region
	// (it is only recorded in the Decision).
	Region string
	// Now is the time deprecation is judged at; nil is time.Now.
	Now func() time.Time
}

// New returns a Checker whose clients come from the default configuration
// chain (environment, profiles, SSO, AWS_ENDPOINT_URL*) for region (empty:
// the chain's region).
func New(ctx context.Context, region string) (Checker, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Checker{}, fmt.Errorf("aws config (region %q): %w", region, err)
	}
	return Checker{EC2: ec2.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg), Region: cfg.Region}, nil
}

// Check decides whether img is due: it finds the newest base AMI (Base),
// reads the last release (Released) and Decides. No matching base AMI is
// an error that wraps ErrNoBaseAMI.
func (c Checker) Check(ctx context.Context, img images.Image) (Decision, error) {
	base, err := c.Base(ctx, img)
	if err != nil {
		return Decision{}, err
	}
	if err := Fits(img, base); err != nil {
		return Decision{}, err
	}
	rel, err := c.Released(ctx, img)
	if err != nil {
		return Decision{}, err
	}
	latest := ""
	if img.ECS.AgentVersion == "" {
		if latest, err = c.LatestAgent(ctx, img); err != nil {
			return Decision{}, err
		}
	}
	d := Decide(img, base, rel, latest)
	if c.Region != "" {
		d.Region = c.Region
	}
	return d, nil
}

func (c Checker) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c Checker) region(img images.Image) string {
	if c.Region != "" {
		return c.Region
	}
	return img.Region
}

// baseFilters are the DescribeImages filters of img's base: the build's
// data "amazon-ami" filters (templates/packer.pkr.hcl.tmpl), and the state.
func baseFilters(b images.Base) []ec2types.Filter {
	var fs []ec2types.Filter
	add := func(name, value string) {
		fs = append(fs, ec2types.Filter{Name: aws.String(name), Values: []string{value}})
	}
	if b.NamePattern != "" {
		add("name", b.NamePattern)
	}
	if b.ProductCode != "" {
		add("product-code", b.ProductCode)
	}
	add("architecture", b.Architecture)
	add("virtualization-type", "hvm")
	add("root-device-type", "ebs")
	add("state", "available")
	return fs
}

// describeBase says which AMIs img's base selects, for errors.
func describeBase(b images.Base) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("owners %q", b.Owners))
	for _, f := range baseFilters(b) {
		parts = append(parts, fmt.Sprintf("%s %q", aws.ToString(f.Name), f.Values[0]))
	}
	return strings.Join(parts, ", ")
}

// Base returns the newest AMI that matches img's base: owned by one of its
// owners, matching its filters, available, and not deprecated unless the
// base includes deprecated AMIs (EC2 leaves them out unless asked, save
// the caller's own; Base skips those whose deprecation time has passed
// too), as the build's data source picks it. The newest is the one
// created last; of two created at the same time, the lower image id.
func (c Checker) Base(ctx context.Context, img images.Image) (AMI, error) {
	in := &ec2.DescribeImagesInput{
		Owners:            img.Base.Owners,
		Filters:           baseFilters(img.Base),
		IncludeDeprecated: aws.Bool(img.Base.IncludeDeprecated),
	}
	var found []ec2types.Image
	for p := ec2.NewDescribeImagesPaginator(c.EC2, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return AMI{}, fmt.Errorf("image %q: base AMI: describe images in region %q: %w", img.Name, c.region(img), err)
		}
		found = append(found, out.Images...)
	}
	best, deprecated, err := newest(found, c.now(), img.Base.IncludeDeprecated)
	if err != nil {
		return AMI{}, fmt.Errorf("image %q: base AMI: %w", img.Name, err)
	}
	if best.ID == "" {
		var also string
		if deprecated > 0 {
			also = fmt.Sprintf(" (%d matching AMI(s) deprecated)", deprecated)
		}
		return AMI{}, fmt.Errorf("image %q: %w in region %q: %s, not deprecated%s", img.Name, ErrNoBaseAMI, c.region(img), describeBase(img.Base), also)
	}
	return best, nil
}

// newest returns the newest of imgs that is available and, unless
// withDeprecated, not deprecated at now, and how many it skipped as
// deprecated; an empty AMI when there is none.
func newest(imgs []ec2types.Image, now time.Time, withDeprecated bool) (AMI, int, error) {
	var best AMI
	deprecated := 0
	for _, img := range imgs {
		id := aws.ToString(img.ImageId)
		if img.State != "" && img.State != ec2types.ImageStateAvailable {
			continue
		}
		if dt := aws.ToString(img.DeprecationTime); dt != "" {
			t, err := time.Parse(time.RFC3339, dt)
			if err != nil {
				return AMI{}, 0, fmt.Errorf("AMI %q: deprecation time %q: %w", id, dt, err)
			}
			if !now.Before(t) && !withDeprecated {
				deprecated++
				continue
			}
		}
		created, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
		if err != nil {
			return AMI{}, 0, fmt.Errorf("AMI %q: creation date %q: %w", id, aws.ToString(img.CreationDate), err)
		}
		a := AMI{ID: id, Name: aws.ToString(img.Name), Created: created.UTC(), ProductCodes: []string{}, RootDevice: aws.ToString(img.RootDeviceName)}
		for _, pc := range img.ProductCodes {
			a.ProductCodes = append(a.ProductCodes, aws.ToString(pc.ProductCodeId))
		}
		for _, bd := range img.BlockDeviceMappings {
			if aws.ToString(bd.DeviceName) == a.RootDevice && bd.Ebs != nil {
				a.RootSnapshotGB = int(aws.ToInt32(bd.Ebs.VolumeSize))
			}
		}
		if best.ID == "" || a.Created.After(best.Created) || a.Created.Equal(best.Created) && a.ID < best.ID {
			best = a
		}
	}
	return best, deprecated, nil
}

// Released reads img's last release: the AMI id its SSM parameter holds
// (no parameter: never released) and that AMI's provenance tags (no such
// AMI: Exists is false). A parameter that holds something other than an
// AMI id is an error.
func (c Checker) Released(ctx context.Context, img images.Image) (Released, error) {
	rel := Released{Parameter: Parameter(img)}
	out, err := c.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(rel.Parameter)})
	switch {
	case apiCode(err) == "ParameterNotFound":
		return rel, nil
	case err != nil:
		return Released{}, fmt.Errorf("image %q: released AMI: read parameter %q in region %q: %w", img.Name, rel.Parameter, c.region(img), err)
	}
	rel.AMI = strings.TrimSpace(aws.ToString(out.Parameter.Value))
	if !release.IsImageID(rel.AMI) {
		return Released{}, fmt.Errorf("image %q: released AMI: parameter %q holds %q, not an AMI id", img.Name, rel.Parameter, rel.AMI)
	}
	imgs, err := c.EC2.DescribeImages(ctx, &ec2.DescribeImagesInput{
		ImageIds:          []string{rel.AMI},
		IncludeDeprecated: aws.Bool(true),
	})
	switch {
	case apiCode(err) == "InvalidAMIID.NotFound" || apiCode(err) == "InvalidAMIID.Unavailable":
		return rel, nil
	case err != nil:
		return Released{}, fmt.Errorf("image %q: released AMI %q (parameter %q): describe image: %w", img.Name, rel.AMI, rel.Parameter, err)
	}
	i := slices.IndexFunc(imgs.Images, func(x ec2types.Image) bool { return aws.ToString(x.ImageId) == rel.AMI })
	if i < 0 || imgs.Images[i].State == ec2types.ImageStateDeregistered {
		return rel, nil
	}
	ami := imgs.Images[i]
	rel.Exists = true
	rel.Name = aws.ToString(ami.Name)
	for _, t := range ami.Tags {
		v := aws.ToString(t.Value)
		switch aws.ToString(t.Key) {
		case release.TagSourceAMI:
			rel.SourceAMI = v
		case release.TagSourceAMIName:
			rel.SourceAMIName = v
		case release.TagDefinitionSHA256:
			rel.DefinitionSHA256 = v
		case release.TagECSAgentVersion:
			rel.ECSAgentVersion = v
		case release.TagECSAgentInstalled:
			rel.ECSAgentInstalled = v
		}
	}
	return rel, nil
}

// AgentReleaseParameter is the public SSM parameter whose
// ecs_agent_version says the newest ECS agent release that img's OS
// installs: the recommended ECS-optimized Amazon Linux 2 AMI's for Amazon
// Linux 2 (its ecs extra), the Amazon Linux 2023 one's for every other OS
// (Amazon Linux 2023's repository and the ecs-init packages of the
// agent's S3 bucket follow the same releases).
func AgentReleaseParameter(img images.Image) string {
	if img.Base.OS == "al2" {
		return "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended"
	}
	return "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended"
}

// LatestAgent returns the newest ECS agent release for img's OS, as AWS
// publishes it for its ECS-optimized AMIs (AgentReleaseParameter).
func (c Checker) LatestAgent(ctx context.Context, img images.Image) (string, error) {
	name := AgentReleaseParameter(img)
	out, err := c.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("image %q: newest ECS agent: read parameter %q in region %q: %w", img.Name, name, c.region(img), err)
	}
	var v struct {
		Version string `json:"ecs_agent_version"`
	}
	value := aws.ToString(out.Parameter.Value)
	if err := json.Unmarshal([]byte(value), &v); err != nil || !agentVersionPattern.MatchString(v.Version) {
		return "", fmt.Errorf("image %q: newest ECS agent: parameter %q holds no ecs_agent_version like 1.86.3: %.200q", img.Name, name, value)
	}
	return v.Version, nil
}

var agentVersionPattern = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// apiCode is err's AWS error code, or "".
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
