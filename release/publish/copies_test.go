package publish_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release/publish"
)

// TestPublishCopies: an image copied to two other regions is published
// in its own region first, then each copy in its region, in region order:
// the same provenance tags on each copy, the same parameter holding the
// copy's id there. A copy that fails names its region; when the image
// itself fails, no copy is touched.
func TestPublishCopies(t *testing.T) {
	const (
		euCopy = "ami-0eeeeeeeeeeeeeee1"
		apCopy = "ami-0aaaaaaaaaaaaaaa9"
	)
	for _, tc := range []struct {
		name    string
		failIn  string // region whose CreateTags fails
		wantErr string
		wantLog []string
	}{
		{name: "all published", wantLog: []string{
			"home CreateTags " + testAMI, "home Putparameter " + testAMI,
			"ap-southeast-2 CreateTags " + apCopy, "ap-southeast-2 Putparameter " + apCopy,
			"eu-west-1 CreateTags " + euCopy, "eu-west-1 Putparameter " + euCopy,
		}},
		{name: "a copy fails", failIn: "eu-west-1", wantErr: `copy in eu-west-1: publish image "` + euCopy + `" to parameter "/cisecs/x": tag its provenance: UnauthorizedOperation`,
			wantLog: []string{
				"home CreateTags " + testAMI, "home Putparameter " + testAMI,
				"ap-southeast-2 CreateTags " + apCopy, "ap-southeast-2 Putparameter " + apCopy,
				"eu-west-1 CreateTags " + euCopy,
			}},
		{name: "the image fails", failIn: "home", wantErr: `publish image "` + testAMI + `" to parameter "/cisecs/x": tag its provenance: UnauthorizedOperation`,
			wantLog: []string{"home CreateTags " + testAMI}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			tags := map[string][]string{}
			clients := func(region string) (publish.PublishAPI, publish.ImageTagAPI) {
				s := storing(func(_ context.Context, in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
					log = append(log, region+" Putparameter "+aws.ToString(in.Value))
					return &ssm.PutParameterOutput{Version: 1}, nil
				})
				e := &fakeTagger{CreateTagsFunc: func(_ context.Context, in *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error) {
					log = append(log, region+" CreateTags "+strings.Join(in.Resources, ","))
					for _, tag := range in.Tags {
						tags[region] = append(tags[region], aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
					}
					if region == tc.failIn {
						return nil, errors.New("UnauthorizedOperation")
					}
					return &ec2.CreateTagsOutput{}, nil
				}}
				return s, e
			}
			home, homeTags := clients("home")
			p, err := publish.New(t.Context(), publish.Options{
				SSM: home, EC2: homeTags, RunID: "gh-1-1-0", ProvisionReportSHA256: testReportSHA256,
				Copies: map[string]string{"eu-west-1": euCopy, "ap-southeast-2": apCopy}, CopyClients: clients,
			})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(t.Context(), "/cisecs/x", testAMI)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("Publish: %v, want %q", err, tc.wantErr)
			}
			if !slices.Equal(log, tc.wantLog) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(tc.wantLog, "\n"))
			}
			for region, got := range tags {
				if !slices.Equal(got, tags["home"]) {
					t.Errorf("tags in %s %q, want the image's %q", region, got, tags["home"])
				}
			}
		})
	}
}

// TestNewRefusesCopies: a copy in a malformed region, or with a
// malformed AMI id, is refused before anything is published.
func TestNewRefusesCopies(t *testing.T) {
	for copies, want := range map[string]string{
		"EU_WEST_1=" + testAMI:  `publisher: copy ` + testAMI + `: region "EU_WEST_1": not a region name`,
		"eu-west-1=ami-nothex0": `publisher: copy in eu-west-1: "ami-nothex0" is not an AMI id`,
	} {
		region, image, _ := strings.Cut(copies, "=")
		_, err := publish.New(t.Context(), publish.Options{SSM: &fakeStore{}, EC2: &fakeTagger{},
			Copies: map[string]string{region: image}, CopyClients: func(string) (publish.PublishAPI, publish.ImageTagAPI) { return &fakeStore{}, &fakeTagger{} }})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("copies %s: %v, want %q", copies, err, want)
		}
	}
}

// TestPublishCopiesEmulated publishes an image and its copy, each region
// a front of its own (EC2's catalogue and kumo's Parameter Store): the
// copy carries the build's tags (Packer tags every region's AMI) and the
// gate's afterwards, and each region's parameter is written with its own
// AMI's id, and read back once SSM checked it as aws:ec2:image.
func TestPublishCopiesEmulated(t *testing.T) {
	const euCopy = "ami-0eeeeeeeeeeeeeee1"
	built := map[string]string{"cisecs:image": "al2023-cis-level1", "SourceAMI": "ami-0bbbbbbbbbbbbbbb2"}
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	o := awssim.Options{Images: []awssim.Image{{ID: testAMI, Name: "cisecs-al2023-1", Tags: built}}}
	inBubble(t, o, func(t *testing.T, e *env) {
		eu, err := awssim.New(awssim.Options{Kumo: k.URL,
			Images: []awssim.Image{{ID: euCopy, Name: "cisecs-al2023-1", Tags: built}}})
		if err != nil {
			t.Fatal(err)
		}
		defer eu.Close()
		euEC2, _, euSSM := eu.Clients()
		param := "/cisecs/" + runID(t) + "/ami-id"
		p, err := publish.New(t.Context(), publish.Options{
			SSM: e.ssm, EC2: e.ec2, RunID: runID(t), ProvisionReportSHA256: testReportSHA256, ECSAgentVersion: "1.105.1",
			Copies: map[string]string{"eu-west-1": euCopy},
			CopyClients: func(region string) (publish.PublishAPI, publish.ImageTagAPI) {
				if region != "eu-west-1" {
					t.Errorf("clients for %s, want eu-west-1", region)
				}
				return euSSM, euEC2
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(t.Context(), param, testAMI); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		for _, r := range []struct {
			name  string
			front *awssim.Server
			ec2   *ec2.Client
			image string
		}{{"us-east-1", e.front, e.ec2, testAMI}, {"eu-west-1", eu, euEC2, euCopy}} {
			out, err := r.ec2.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{r.image}})
			if err != nil || len(out.Images) != 1 {
				t.Fatalf("%s: DescribeImages(%s): %v", r.name, r.image, err)
			}
			got := map[string]string{}
			for _, tag := range out.Images[0].Tags {
				got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			for k, v := range map[string]string{"cisecs:image": "al2023-cis-level1", "cisecs:gate-run-id": runID(t),
				"cisecs:provision-report-sha256": testReportSHA256, "cisecs:ecs-agent-installed": "1.105.1"} {
				if got[k] != v {
					t.Errorf("%s: %s tag %s = %q, want %q", r.name, r.image, k, got[k], v)
				}
			}
			// kumo keeps one Parameter Store for every region: what each
			// region's front was asked to write, and that Publish read it
			// back there, are what tell the regions apart.
			var puts []string
			for _, req := range r.front.Requests("PutParameter") {
				puts = append(puts, fmt.Sprint(req.JSON["Name"], "=", req.JSON["Value"]))
			}
			if want := []string{param + "=" + r.image}; !slices.Equal(puts, want) {
				t.Errorf("%s: PutParameter %q, want %q", r.name, puts, want)
			}
		}
	})
}
