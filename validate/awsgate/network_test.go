package awsgate_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// privateImage is a probe image in the account's own ECR, in the front's
// region.
const privateImage = "000000000000.dkr.ecr.us-east-1.amazonaws.com/cisecs/probe:2023"

// allEndpoints are the VPC endpoints a subnet without egress needs for the
// gate with a private ECR probe image.
var allEndpoints = []string{"ecs", "ecs-agent", "ecs-telemetry", "ssm", "ssmmessages", "ec2messages", "ecr.api", "ecr.dkr", "s3"}

// TestNetwork: like AWS, the front lets an instance reach ECS and the
// probe image's registry only through a NAT gateway, an internet gateway
// with a public IP, or the VPC endpoints that serve them (ECR Public has
// none); an agent that cannot reach ECS never registers, an image that
// cannot be pulled never starts. Launch checks the subnet's routes and
// endpoints first, and fails before it creates anything, naming every
// path that is missing at once.
func TestNetwork(t *testing.T) {
	tests := []struct {
		name    string
		network awssim.Network
		image   string
		// want are parts of the error, one per missing path; none: the
		// gate passes.
		want []string
	}{
		{name: "public subnet", network: awssim.PublicNetwork(testSubnet), image: testProbeImg},
		{name: "NAT gateway", network: awssim.NATNetwork(testSubnet), image: testProbeImg},
		{name: "endpoints only, private ECR image", network: awssim.EndpointNetwork(testSubnet, allEndpoints...), image: privateImage},
		{name: "NAT gateway, private ECR image", network: awssim.NATNetwork(testSubnet), image: privateImage},
		{name: "endpoints only, ECR Public image", network: awssim.EndpointNetwork(testSubnet, allEndpoints...), image: testProbeImg, want: []string{
			"the probe image's registry (public.ecr.aws): ECR Public, which no VPC endpoint serves: needs egress",
		}},
		{name: "nothing", network: awssim.IsolatedNetwork(testSubnet), image: testProbeImg, want: []string{
			"ECS (the agent): route table rtb-0123456789abcdef0 has no default route",
			"lacks the endpoints ecs (interface, private DNS on), ecs-agent (interface, private DNS on), ecs-telemetry (interface, private DNS on)",
			"SSM (Run Command)", "ssmmessages (interface, private DNS on), ec2messages",
			"the probe image's registry (public.ecr.aws)",
		}},
		{name: "internet gateway, no public IP", network: awssim.Network{Subnet: testSubnet, DefaultRoute: "igw-0a1b2c3d4e5f60718"}, image: testProbeImg, want: []string{
			"sends 0.0.0.0/0 to internet gateway igw-0a1b2c3d4e5f60718, but the subnet does not map a public IP on launch",
		}},
		{name: "endpoints without the s3 gateway", network: awssim.EndpointNetwork(testSubnet, allEndpoints[:8]...), image: privateImage, want: []string{
			"lacks the endpoints s3 (gateway, in route table rtb-0123456789abcdef0)",
		}},
		{name: "endpoints, ECR of another region", network: awssim.EndpointNetwork(testSubnet, allEndpoints...), image: "000000000000.dkr.ecr.eu-west-1.amazonaws.com/cisecs/probe:2023", want: []string{
			"ECR in eu-west-1, not this region's endpoints: needs egress",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe, Networks: []awssim.Network{tc.network}}
			inBubble(t, o, func(t *testing.T, e *env) {
				var progress strings.Builder
				b := e.backend(t, func(o *awsgate.Options) { o.Gate.ProbeImage = tc.image })
				r := validate.Run(t.Context(), b, validate.Options{
					ImageID: testAMI, RoleARN: testRole, RunID: runID(t), Progress: &progress, ProbeImage: tc.image,
				})
				t.Logf("progress:\n%s", progress.String())
				e.assertClean(t, runID(t))
				if len(tc.want) == 0 {
					if !r.Passed() {
						t.Errorf("%s, want every check passed", r.Summary())
					}
					return
				}
				if r.ExitCode() != validate.ExitError || len(r.Checks) == 0 || r.Checks[0].Status != validate.StatusError {
					t.Fatalf("exit %d, checks %+v; want exit 2, launch ERROR", r.ExitCode(), r.Checks)
				}
				msg := r.Checks[0].Message
				for _, w := range append([]string{"nothing launched", `subnet "` + testSubnet + `"`}, tc.want...) {
					if !strings.Contains(msg, w) {
						t.Errorf("launch message lacks %q:\n%s", w, msg)
					}
				}
				for _, op := range []string{"CreateCluster", "RunInstances", "RegisterTaskDefinition", "GetRole", "CreateServiceLinkedRole"} {
					if n := e.front.Calls(op); n > 0 {
						t.Errorf("%s called %d times, want nothing done after the network check failed", op, n)
					}
				}
			})
		})
	}
}

// TestCheckNetworkAllAtOnce: a subnet that reaches nothing gets one
// error naming the three paths, as a *NetworkError.
func TestCheckNetworkAllAtOnce(t *testing.T) {
	o := awssim.Options{Networks: []awssim.Network{awssim.IsolatedNetwork(testSubnet)}}
	inBubble(t, o, func(t *testing.T, e *env) {
		s, err := awsgate.CheckNetwork(context.Background(), e.ec2, testSubnet, privateImage, "us-east-1")
		var ne *awsgate.NetworkError
		if !errors.As(err, &ne) || len(ne.Missing) != 3 {
			t.Fatalf("CheckNetwork: %v, want a *NetworkError with 3 missing paths", err)
		}
		if s.RouteTable != "rtb-0123456789abcdef0" || s.VPC != "vpc-0123456789abcdef0" || s.DefaultRoute != "" {
			t.Errorf("subnet %+v, want its own table, its VPC, no default route", s)
		}
	})
}

// TestCheckNetworkUnknownSubnet: a subnet EC2 does not know is an error
// that names it.
func TestCheckNetworkUnknownSubnet(t *testing.T) {
	inBubble(t, awssim.Options{}, func(t *testing.T, e *env) {
		_, err := awsgate.CheckNetwork(context.Background(), e.ec2, "subnet-0fedcba9876543210", testProbeImg, "us-east-1")
		if err == nil || !strings.Contains(err.Error(), `subnet "subnet-0fedcba9876543210"`) || !strings.Contains(err.Error(), "InvalidSubnetID.NotFound") {
			t.Errorf("CheckNetwork: %v, want the subnet named, not found", err)
		}
	})
}

// TestCheckNetworkRoutes: the default route's target decides egress: a
// NAT gateway, or an internet gateway with a public IP; a blackhole route
// is none; a target the check cannot see past (a transit gateway, a NAT
// instance) is taken on trust.
func TestCheckNetworkRoutes(t *testing.T) {
	tests := []struct {
		name     string
		route    ec2types.Route
		publicIP bool
		ok       bool
	}{
		{"NAT gateway", ec2types.Route{NatGatewayId: aws.String("nat-1"), State: ec2types.RouteStateActive}, false, true},
		{"internet gateway, public IP", ec2types.Route{GatewayId: aws.String("igw-1"), State: ec2types.RouteStateActive}, true, true},
		{"internet gateway, no public IP", ec2types.Route{GatewayId: aws.String("igw-1"), State: ec2types.RouteStateActive}, false, false},
		{"NAT gateway deleted (blackhole)", ec2types.Route{NatGatewayId: aws.String("nat-1"), State: ec2types.RouteStateBlackhole}, false, false},
		{"transit gateway", ec2types.Route{TransitGatewayId: aws.String("tgw-1"), State: ec2types.RouteStateActive}, false, true},
		{"NAT instance", ec2types.Route{NetworkInterfaceId: aws.String("eni-1"), State: ec2types.RouteStateActive}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := publicSubnet()
			n.DescribeSubnetsFunc = func(context.Context, *ec2.DescribeSubnetsInput) (*ec2.DescribeSubnetsOutput, error) {
				return &ec2.DescribeSubnetsOutput{Subnets: []ec2types.Subnet{{SubnetId: aws.String(testSubnet), VpcId: aws.String("vpc-1"), MapPublicIpOnLaunch: aws.Bool(tc.publicIP)}}}, nil
			}
			n.DescribeRouteTablesFunc = func(_ context.Context, in *ec2.DescribeRouteTablesInput) (*ec2.DescribeRouteTablesOutput, error) {
				r := tc.route
				r.DestinationCidrBlock = aws.String("0.0.0.0/0")
				return &ec2.DescribeRouteTablesOutput{RouteTables: []ec2types.RouteTable{{RouteTableId: aws.String("rtb-1"), Routes: []ec2types.Route{r}}}}, nil
			}
			_, err := awsgate.CheckNetwork(t.Context(), n, testSubnet, testProbeImg, "us-east-1")
			var ne *awsgate.NetworkError
			switch {
			case tc.ok && err != nil:
				t.Errorf("CheckNetwork: %v, want the subnet to reach everything", err)
			case !tc.ok && (!errors.As(err, &ne) || len(ne.Missing) != 3):
				t.Errorf("CheckNetwork: %v, want a *NetworkError naming the 3 paths", err)
			}
		})
	}
}

// TestCheckNetworkMainTable: a subnet with no route table of its own is
// routed by its VPC's main table, which the check asks for second.
func TestCheckNetworkMainTable(t *testing.T) {
	n := publicSubnet()
	var asked []string
	n.DescribeRouteTablesFunc = func(_ context.Context, in *ec2.DescribeRouteTablesInput) (*ec2.DescribeRouteTablesOutput, error) {
		var names []string
		for _, f := range in.Filters {
			names = append(names, aws.ToString(f.Name)+"="+strings.Join(f.Values, ","))
		}
		asked = append(asked, strings.Join(names, " "))
		if len(asked) == 1 {
			return &ec2.DescribeRouteTablesOutput{}, nil
		}
		return &ec2.DescribeRouteTablesOutput{RouteTables: []ec2types.RouteTable{{RouteTableId: aws.String("rtb-main"), Routes: []ec2types.Route{
			{DestinationCidrBlock: aws.String("0.0.0.0/0"), NatGatewayId: aws.String("nat-1"), State: ec2types.RouteStateActive},
		}}}}, nil
	}
	s, err := awsgate.CheckNetwork(t.Context(), n, testSubnet, testProbeImg, "us-east-1")
	if err != nil || s.RouteTable != "rtb-main" {
		t.Errorf("CheckNetwork: %+v, %v; want the main table's NAT route", s, err)
	}
	want := []string{"association.subnet-id=" + testSubnet, "vpc-id=vpc-1 association.main=true"}
	if !slices.Equal(asked, want) {
		t.Errorf("route tables asked %q, want %q", asked, want)
	}
}
