package due_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cisecs/cisecs/release/due"
)

// rooted gives an AMI its Marketplace product code and a root device
// whose snapshot has gb GiB.
func rooted(device string, gb int32) func(*ec2types.Image) {
	return func(img *ec2types.Image) {
		img.ProductCodes = []ec2types.ProductCode{{ProductCodeId: aws.String("abc123def456ghi789"), ProductCodeType: ec2types.ProductCodeValuesMarketplace}}
		img.RootDeviceName = aws.String(device)
		img.BlockDeviceMappings = []ec2types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/sdb"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(100)}},
			{DeviceName: aws.String(device), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(gb)}},
		}
	}
}

// TestBaseDetails: the base's product, root device and root snapshot size
// come from DescribeImages.
func TestBaseDetails(t *testing.T) {
	img := parse(t, "al2023", definition("al2023", "fits", ""))
	c := due.Checker{
		EC2: &fakeEC2{DescribeImagesFunc: func(context.Context, *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
			return &ec2.DescribeImagesOutput{Images: []ec2types.Image{ami("ami-0b000000000000002", 3, rooted("/dev/xvda", 8))}}, nil
		}},
		Now: func() time.Time { return fakeNow },
	}
	base, err := c.Base(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(base.ProductCodes, []string{"abc123def456ghi789"}) || base.RootDevice != "/dev/xvda" || base.RootSnapshotGB != 8 {
		t.Errorf("base %+v: want product abc123def456ghi789, root /dev/xvda of 8 GiB", base)
	}
}

// TestBaseFits: the base AMI's root device and snapshot size are read, and
// a base whose root the build's launch volume would not replace (another
// device name, or a bigger snapshot) stops Check with the setting to
// change, before anything is decided.
func TestBaseFits(t *testing.T) {
	tests := []struct {
		name, volume string
		base         func(*ec2types.Image)
		wantErr      []string // empty: fits
	}{
		{name: "the OS's root device, a smaller snapshot", base: rooted("/dev/xvda", 8)},
		{name: "snapshot as big as the volume", base: rooted("/dev/xvda", 30)},
		{
			name: "another root device", base: rooted("/dev/sda1", 8),
			wantErr: []string{`images/al2023.hcl: image "al2023": base ami-0b000000000000002`, "its root device is /dev/sda1, but the build would launch its root volume as /dev/xvda", `set volume { device_name = "/dev/sda1" }`},
		},
		{
			name: "snapshot bigger than the volume", base: rooted("/dev/xvda", 40),
			wantErr: []string{"its root snapshot is 40 GiB, more than the build's 30 GiB root volume", "set volume { size_gb = 40 } or more"},
		},
		{name: "device and size set to fit", volume: "  volume {\n    device_name = \"/dev/sda1\"\n    size_gb = 40\n  }\n", base: rooted("/dev/sda1", 40)},
		{name: "an AMI that says nothing", base: func(*ec2types.Image) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := parse(t, "al2023", definition("al2023", "fits", tc.volume))
			c := due.Checker{
				EC2: &fakeEC2{DescribeImagesFunc: func(_ context.Context, in *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
					return &ec2.DescribeImagesOutput{Images: []ec2types.Image{ami("ami-0b000000000000002", 3, tc.base)}}, nil
				}},
				SSM: &fakeSSM{}, // any call fails: Check must stop before it
				Now: func() time.Time { return fakeNow },
			}
			base, err := c.Base(t.Context(), img)
			if err != nil {
				t.Fatal(err)
			}
			err = due.Fits(img, base)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Fits: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Fits passed a base that does not fit: %+v", base)
			}
			if _, cerr := c.Check(t.Context(), img); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check: %v; want it to stop with Fits' error", cerr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestBaseIncludeDeprecated: a base that includes deprecated AMIs asks EC2
// for them and may pick one, as the build's data source does with
// include_deprecated; by default a deprecated AMI is skipped.
func TestBaseIncludeDeprecated(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		want       string
	}{
		{"default", "", "ami-0b000000000000001"},
		{"include_deprecated", "true", "ami-0b000000000000002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := definition("al2023", "dep", "")
			if tc.base != "" {
				src = strings.Replace(src, `os           = "al2023"`, `os           = "al2023"`+"\n    include_deprecated = "+tc.base, 1)
			}
			img := parse(t, "al2023", src)
			var asked *bool
			c := due.Checker{
				EC2: &fakeEC2{DescribeImagesFunc: func(_ context.Context, in *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
					asked = in.IncludeDeprecated
					return &ec2.DescribeImagesOutput{Images: []ec2types.Image{ami("ami-0b000000000000001", 30), ami("ami-0b000000000000002", 3, deprecatedBy(1))}}, nil
				}},
				Now: func() time.Time { return fakeNow },
			}
			base, err := c.Base(t.Context(), img)
			if err != nil {
				t.Fatal(err)
			}
			if base.ID != tc.want || asked == nil || *asked != img.Base.IncludeDeprecated {
				t.Errorf("base %s (IncludeDeprecated asked: %v); want %s, asked %v", base.ID, asked, tc.want, img.Base.IncludeDeprecated)
			}
		})
	}
}
