package awssim_test

import (
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestAuthorizeSeesStateBefore: Options.Authorize sees each request with
// the signature's service and region, and the resources as they stood
// before the front answered it: a CreateTags on an AMI sees the AMI's
// tags without the new one, the next call sees it.
func TestAuthorizeSeesStateBefore(t *testing.T) {
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	synctest.Test(t, func(t *testing.T) {
		const ami = "ami-0a1b2c3d4e5f60718"
		type seen struct {
			op, service, region, vpc string
			tags                     map[string]string
		}
		var got []seen
		s, err := awssim.New(awssim.Options{Kumo: k.URL,
			Images:   []awssim.Image{{ID: ami, Name: "a", Tags: map[string]string{"cisecs:image": "al2023"}}},
			Networks: []awssim.Network{awssim.PublicNetwork("subnet-0a")},
			Authorize: func(a awssim.Authorization) {
				tags := map[string]string{}
				for k, v := range a.State.Tags("arn:aws:ec2:" + a.Region + "::image/" + ami) {
					tags[k] = v
				}
				vpc, _ := a.State.SubnetVPC("subnet-0a")
				got = append(got, seen{a.Op, a.Service, a.Region, vpc, tags})
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c, _, _ := s.Clients()
		in := &ec2.CreateTagsInput{Resources: []string{ami}, Tags: []ec2types.Tag{{Key: aws.String("cisecs:gate-run-id"), Value: aws.String("r1")}}}
		if _, err := c.CreateTags(t.Context(), in); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{ami}}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("Authorize saw %d requests, want 2: %+v", len(got), got)
		}
		if g := got[0]; g.op != "CreateTags" || g.service != "ec2" || g.region != "us-east-1" || len(g.tags) != 1 || g.vpc != "vpc-0a" {
			t.Errorf("CreateTags seen as %+v; want ec2, us-east-1, the subnet's VPC, the AMI's one tag before the call", g)
		}
		if g := got[1]; g.tags["cisecs:gate-run-id"] != "r1" {
			t.Errorf("the next call saw the AMI's tags %v, want the new one", g.tags)
		}
	})
}
