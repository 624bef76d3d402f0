package due_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/due"
)

// The emulated catalogue. Time in a synctest bubble starts at midnight,
// 1 January 2000 (UTC): the AMIs are dated before it.
var (
	bubbleStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

	marketplace = func(id, name string, daysAgo int) awssim.Image {
		return awssim.Image{ID: id, Name: name, Owner: "679593333241", OwnerAlias: "aws-marketplace", Created: bubbleStart.AddDate(0, 0, -daysAgo)}
	}
	baseOld = marketplace("ami-0b000000000000001", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.0.0", 60)
	baseNew = marketplace("ami-0b000000000000002", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.1.0", 20)
	// decoys are newer than baseNew but do not match the definition's base.
	decoys = []awssim.Image{
		func() awssim.Image {
			i := marketplace("ami-0d000000000000001", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.2.0 arm", 2)
			i.Architecture = "arm64"
			return i
		}(),
		marketplace("ami-0d000000000000002", "CIS Amazon Linux 2023 Benchmark - Level 2 - v1.2.0", 2),
		marketplace("ami-0d000000000000003", "CIS Amazon Linux 2 Benchmark - Level 1 - v3.0.0", 2),
		func() awssim.Image {
			i := marketplace("ami-0d000000000000004", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.2.0 pending", 1)
			i.State = "pending"
			return i
		}(),
		{ID: "ami-0d000000000000005", Name: "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.2.0 copy", Owner: "111122223333", Created: bubbleStart.AddDate(0, 0, -1)},
	}
	// newerDeprecated is newer than baseNew and matches, but was deprecated
	// yesterday.
	newerDeprecated = func() awssim.Image {
		i := marketplace("ami-0b000000000000003", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.2.0", 5)
		i.Deprecated = bubbleStart.AddDate(0, 0, -1)
		return i
	}()
)

// releasedAMI is the AMI a build of img from base made, tagged as the
// build tags it; edit changes its tags.
func releasedAMI(id string, img images.Image, base awssim.Image, edit func(tags map[string]string)) awssim.Image {
	tags := map[string]string{
		"Name":                           "cisecs-" + img.Name,
		release.TagSourceAMI:             base.ID,
		release.TagSourceAMIName:         base.Name,
		"cisecs:image":                   img.Name,
		release.TagDefinitionSHA256:      img.Digest,
		"cisecs:os":                      img.Base.OS,
		release.TagECSAgentVersion:       due.AgentVersion(img),
		"cisecs:ssm-parameter":           due.Parameter(img),
		"cisecs:gate-run-id":             "gh-1-1-0",
		"cisecs:provision-report-sha256": strings.Repeat("0", 64),
	}
	if img.ECS.AgentVersion == "" {
		// The gate tags the agent the build installed: the newest then.
		tags[release.TagECSAgentInstalled] = awssim.DefaultECSAgentRelease
	} else {
		tags[release.TagECSAgentInstalled] = img.ECS.AgentVersion
	}
	if edit != nil {
		edit(tags)
	}
	return awssim.Image{ID: id, Name: "cisecs-" + img.Name + "-19991231031700", Created: bubbleStart.AddDate(0, 0, -1), Tags: tags}
}

// emulated runs f in a synctest bubble with a front made with o on a new
// kumo (awssim.Bubble), and a Checker whose clients reach it.
func emulated(t *testing.T, o awssim.Options, f func(t *testing.T, front *awssim.Server, c due.Checker, ssmc *ssm.Client)) {
	t.Helper()
	awssim.Bubble(t, o, func(t *testing.T, front *awssim.Server) {
		ec2c, _, ssmc := front.Clients()
		f(t, front, due.Checker{EC2: ec2c, SSM: ssmc, Region: "us-east-1"}, ssmc)
	})
}

// uniqueParam is a parameter path of its own for the test: kumo's state
// is shared by every test in the binary.
func uniqueParam(t *testing.T) string {
	t.Helper()
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			return r
		}
		return '-'
	}, t.Name())
}

// publish writes ami to img's parameter, as the gate does.
func publish(t *testing.T, ssmc *ssm.Client, img images.Image, ami string) {
	t.Helper()
	_, err := ssmc.PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String(due.Parameter(img)), Value: aws.String(ami),
		Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image"), Overwrite: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("put parameter: %v", err)
	}
}

// TestCheckEmulated decides for one image against kumo and the front: each
// reason, the catalogue's decoys and deprecated AMIs, and no base at all.
func TestCheckEmulated(t *testing.T) {
	const releasedID = "ami-0c000000000000001"
	tests := []struct {
		name string
		// body adds to the definition; owners replaces its owners.
		body, owners string
		// catalogue is added to decoys.
		catalogue []awssim.Image
		// released, when set, makes the release from the image.
		released func(img images.Image) awssim.Image
		// param is what the parameter holds: "" none, else an AMI id.
		param string
		// deregistered deregisters the AMI param once SSM stored it.
		deregistered bool
		wantBase     string
		want         []due.Code
		wantMsg      string
		wantErr      string
	}{
		{
			name:      "never released",
			catalogue: []awssim.Image{baseOld, baseNew},
			wantBase:  baseNew.ID, want: []due.Code{due.NeverReleased},
			wantMsg: "due: never-released",
		},
		{
			name:      "up to date",
			catalogue: []awssim.Image{baseOld, baseNew},
			released:  func(img images.Image) awssim.Image { return releasedAMI(releasedID, img, baseNew, nil) },
			param:     releasedID,
			wantBase:  baseNew.ID,
			wantMsg:   "up to date: base ami-0b000000000000002 (CIS Amazon Linux 2023 Benchmark - Level 1 - v1.1.0)",
		},
		{
			name:      "new base AMI",
			catalogue: []awssim.Image{baseOld, baseNew},
			released:  func(img images.Image) awssim.Image { return releasedAMI(releasedID, img, baseOld, nil) },
			param:     releasedID,
			wantBase:  baseNew.ID, want: []due.Code{due.NewBaseAMI},
			wantMsg: "due: new-base-ami",
		},
		{
			name:      "deprecated newer AMI ignored",
			catalogue: []awssim.Image{baseOld, baseNew, newerDeprecated},
			released:  func(img images.Image) awssim.Image { return releasedAMI(releasedID, img, baseNew, nil) },
			param:     releasedID,
			wantBase:  baseNew.ID,
			wantMsg:   "up to date: base ami-0b000000000000002",
		},
		{
			name: "newer AMI deprecated only later counts",
			catalogue: []awssim.Image{baseOld, baseNew, func() awssim.Image {
				i := newerDeprecated
				i.Deprecated = bubbleStart.AddDate(0, 6, 0)
				return i
			}()},
			released: func(img images.Image) awssim.Image { return releasedAMI(releasedID, img, baseNew, nil) },
			param:    releasedID,
			wantBase: newerDeprecated.ID, want: []due.Code{due.NewBaseAMI},
			wantMsg: "due: new-base-ami",
		},
		{
			// EC2 always shows owners their own deprecated AMIs: Base skips
			// them itself.
			name:   "own deprecated AMI ignored",
			owners: `["self"]`,
			catalogue: []awssim.Image{
				{ID: "ami-0e000000000000001", Name: "CIS Amazon Linux 2023 Benchmark - Level 1 - golden", Created: bubbleStart.AddDate(0, 0, -30)},
				{ID: "ami-0e000000000000002", Name: "CIS Amazon Linux 2023 Benchmark - Level 1 - golden 2", Created: bubbleStart.AddDate(0, 0, -3), Deprecated: bubbleStart.AddDate(0, 0, -1)},
			},
			wantBase: "ami-0e000000000000001", want: []due.Code{due.NeverReleased},
			wantMsg: "due: never-released",
		},
		{
			name:      "agent version changed",
			body:      pinned("1.86.3"),
			catalogue: []awssim.Image{baseOld, baseNew},
			released: func(img images.Image) awssim.Image {
				return releasedAMI(releasedID, img, baseNew, func(tags map[string]string) { tags[release.TagECSAgentVersion] = "1.85.0" })
			},
			param:    releasedID,
			wantBase: baseNew.ID, want: []due.Code{due.AgentVersionChanged},
			wantMsg: "due: agent-version-changed",
		},
		{
			name:      "new agent release",
			catalogue: []awssim.Image{baseOld, baseNew},
			released: func(img images.Image) awssim.Image {
				return releasedAMI(releasedID, img, baseNew, func(tags map[string]string) { tags[release.TagECSAgentInstalled] = "1.99.0" })
			},
			param:    releasedID,
			wantBase: baseNew.ID, want: []due.Code{due.NewAgentRelease},
			wantMsg: "due: new-agent-release",
		},
		{
			name:      "installed agent not tagged",
			catalogue: []awssim.Image{baseOld, baseNew},
			released: func(img images.Image) awssim.Image {
				return releasedAMI(releasedID, img, baseNew, func(tags map[string]string) { delete(tags, release.TagECSAgentInstalled) })
			},
			param:    releasedID,
			wantBase: baseNew.ID, want: []due.Code{due.NewAgentRelease},
			wantMsg: "due: new-agent-release",
		},
		{
			// A pinned agent is the definition's to change: releases do
			// not make it due, and the release is not looked up.
			name:      "pinned agent ignores releases",
			body:      pinned("1.86.3"),
			catalogue: []awssim.Image{baseOld, baseNew},
			released:  func(img images.Image) awssim.Image { return releasedAMI(releasedID, img, baseNew, nil) },
			param:     releasedID,
			wantBase:  baseNew.ID,
			wantMsg:   "up to date",
		},
		{
			name:      "definition changed",
			catalogue: []awssim.Image{baseOld, baseNew},
			released: func(img images.Image) awssim.Image {
				return releasedAMI(releasedID, img, baseNew, func(tags map[string]string) {
					tags[release.TagDefinitionSHA256] = strings.Repeat("e", 64)
				})
			},
			param:    releasedID,
			wantBase: baseNew.ID, want: []due.Code{due.DefinitionChanged},
			wantMsg: "due: definition-changed",
		},
		{
			// Released, then deregistered: SSM stores an aws:ec2:image value
			// only while its AMI exists.
			name:      "released AMI missing",
			catalogue: []awssim.Image{baseOld, baseNew},
			released: func(img images.Image) awssim.Image {
				return releasedAMI("ami-0dead000000000000", img, baseNew, nil)
			},
			param:        "ami-0dead000000000000",
			deregistered: true,
			wantBase:     baseNew.ID, want: []due.Code{due.ReleasedAMIMissing},
			wantMsg: "due: released-ami-missing",
		},
		{
			name:      "no base AMI",
			catalogue: []awssim.Image{newerDeprecated},
			wantErr:   `image "al2023": no base AMI matches in region "us-east-1": owners ["aws-marketplace"], name "CIS Amazon Linux 2023 Benchmark - Level 1*", architecture "x86_64", virtualization-type "hvm", root-device-type "ebs", state "available", not deprecated`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := awssim.Options{Images: append(slices.Clone(decoys), tc.catalogue...)}
			emulated(t, o, func(t *testing.T, front *awssim.Server, c due.Checker, ssmc *ssm.Client) {
				src := definition("al2023", uniqueParam(t), tc.body)
				if tc.owners != "" {
					src = strings.Replace(src, `["aws-marketplace"]`, tc.owners, 1)
				}
				img := parse(t, "al2023", src)
				if tc.released != nil {
					front.AddImage(tc.released(img))
				}
				if tc.param != "" {
					publish(t, ssmc, img, tc.param)
				}
				if tc.deregistered {
					// SSM has checked the value by the time it is read.
					if _, err := ssmc.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String(due.Parameter(img))}); err != nil {
						t.Fatalf("get parameter: %v", err)
					}
					front.DeregisterImage(tc.param)
				}
				d, err := c.Check(t.Context(), img)
				if tc.wantErr != "" {
					if err == nil || err.Error() != tc.wantErr || !errors.Is(err, due.ErrNoBaseAMI) {
						t.Fatalf("Check: %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if d.Base.ID != tc.wantBase {
					t.Errorf("base %s, want %s", d.Base, tc.wantBase)
				}
				if got := codes(d); !slices.Equal(got, tc.want) {
					t.Errorf("reasons %q, want %q", got, tc.want)
				}
				if !strings.HasPrefix(d.Message, tc.wantMsg) {
					t.Errorf("message %q, want %q", d.Message, tc.wantMsg)
				}
				looked := false
				for _, r := range front.Requests("GetParameter") {
					looked = looked || r.JSON["Name"] == due.AgentReleaseParameter(img)
				}
				if unpinned := img.ECS.AgentVersion == ""; looked != unpinned {
					t.Errorf("looked up the newest agent release: %v; want %v (the definition pins none: %v)", looked, unpinned, unpinned)
				}
				if img.ECS.AgentVersion == "" && d.LatestAgent != awssim.DefaultECSAgentRelease {
					t.Errorf("latest agent %q, want the emulator's %s", d.LatestAgent, awssim.DefaultECSAgentRelease)
				}
				if d.Released.Parameter != due.Parameter(img) || d.Released.AMI != tc.param {
					t.Errorf("released %+v, want parameter %s holding %q", d.Released, due.Parameter(img), tc.param)
				}
				for _, r := range front.Requests("DescribeImages") {
					if r.Form.Get("ImageId.1") == "" && r.Form.Get("IncludeDeprecated") != "false" {
						t.Errorf("base look-up without IncludeDeprecated=false: %v", r.Form)
					}
				}
			})
		})
	}
}

// TestCheckEmulatedSeveral decides for several images with one Checker:
// each on its own base and its own release.
func TestCheckEmulatedSeveral(t *testing.T) {
	armOld := marketplace("ami-0a000000000000001", "CIS Amazon Linux 2023 Benchmark - Level 1 - v1.0.0 arm", 40)
	armOld.Architecture = "arm64"
	o := awssim.Options{Images: append(slices.Clone(decoys), baseOld, baseNew, armOld)}
	emulated(t, o, func(t *testing.T, front *awssim.Server, c due.Checker, ssmc *ssm.Client) {
		x86 := parse(t, "al2023", definition("al2023", uniqueParam(t)+"-x86", ""))
		arm := parse(t, "al2023-arm64", strings.Replace(definition("al2023-arm64", uniqueParam(t)+"-arm", pinned("1.86.3")), `"x86_64"`, `"arm64"`, 1))
		agentless := parse(t, "al2023-old", definition("al2023-old", uniqueParam(t)+"-old", ""))
		front.AddImage(releasedAMI("ami-0c000000000000001", x86, baseNew, nil))
		publish(t, ssmc, x86, "ami-0c000000000000001")
		front.AddImage(releasedAMI("ami-0c000000000000002", agentless, baseOld, func(tags map[string]string) {
			delete(tags, release.TagECSAgentVersion)
		}))
		publish(t, ssmc, agentless, "ami-0c000000000000002")

		// The arm64 decoy is the newest arm64 Level 1 AMI.
		want := map[string]struct {
			base  string
			codes []due.Code
		}{
			"al2023":       {baseNew.ID, nil},
			"al2023-arm64": {decoys[0].ID, []due.Code{due.NeverReleased}},
			"al2023-old":   {baseNew.ID, []due.Code{due.NewBaseAMI, due.AgentVersionChanged}},
		}
		for _, img := range []images.Image{x86, arm, agentless} {
			d, err := c.Check(t.Context(), img)
			if err != nil {
				t.Fatalf("Check(%s): %v", img.Name, err)
			}
			w := want[img.Name]
			if d.Image != img.Name || d.Base.ID != w.base || !slices.Equal(codes(d), w.codes) {
				t.Errorf("%s: base %s, reasons %q; want %s, %q", img.Name, d.Base, codes(d), w.base, w.codes)
			}
			if img.Name == "al2023-old" && !strings.Contains(d.Reasons[1].Message, "no "+release.TagECSAgentVersion+" tag") {
				t.Errorf("%s: %q does not say the tag is missing", img.Name, d.Reasons[1].Message)
			}
		}
		if d, err := c.Check(t.Context(), x86); err != nil || d.ECSAgentVersion != release.NewestAgent {
			t.Errorf("unpinned image: agent %q (%v), want %s", d.ECSAgentVersion, err, release.NewestAgent)
		}
	})
}
