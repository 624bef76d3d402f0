package awsgate

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// NetworkAPI is the part of EC2 the network check reads: the subnet, the
// route table that routes it, and the VPC's endpoints.
type NetworkAPI interface {
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error)
}

var _ NetworkAPI = (*ec2.Client)(nil)

// Subnet is what the network check learnt of the gate's subnet.
type Subnet struct {
	// ID and VPC are the subnet's and its VPC's ids.
	ID, VPC string
	// PublicIP says the instance gets a public IP address: the subnet maps
	// one on launch (the gate's RunInstances asks for none of its own).
	PublicIP bool
	// RouteTable is the table that routes the subnet: its own, or else
	// the VPC's main table.
	RouteTable string
	// DefaultRoute is the target of the table's active 0.0.0.0/0 route
	// (igw-..., nat-..., tgw-..., vpce-..., eni-..., i-..., pcx-...);
	// empty: none.
	DefaultRoute string
	// Interface are the short service names (ecs, ssm, ecr.dkr, ...) of
	// the VPC's available interface endpoints with private DNS on.
	Interface []string
	// Gateway are the short service names (s3, dynamodb) of the
	// available gateway endpoints in RouteTable.
	Gateway []string
}

// Egress says whether the subnet reaches the internet: a default route to
// a NAT gateway, or to an internet gateway with a public IP, or to
// another target (a transit gateway, a NAT instance, a firewall's
// Gateway Load Balancer endpoint, a peering) the check cannot see past
// and takes on trust. why says what is missing
// when it does not.
func (s Subnet) Egress() (ok bool, why string) {
	switch t := s.DefaultRoute; {
	case t == "":
		return false, fmt.Sprintf("route table %s has no default route (0.0.0.0/0) to a NAT gateway or an internet gateway", s.RouteTable)
	case strings.HasPrefix(t, "igw-") && !s.PublicIP:
		return false, fmt.Sprintf("route table %s sends 0.0.0.0/0 to internet gateway %s, but the subnet does not map a public IP on launch (an instance without one cannot use it: route through a NAT gateway, or turn on MapPublicIpOnLaunch)", s.RouteTable, t)
	}
	return true, ""
}

// need is one thing the host must reach, and the interface and gateway
// endpoints that serve it without egress (none: only egress does).
type need struct {
	what         string
	viaInterface []string
	gateway      []string
}

// Services the host reaches: the ECS agent (ecs, its websocket ecs-agent,
// its metrics ecs-telemetry) and the SSM agent (ssm, ssmmessages,
// ec2messages), which the gate's diagnostics and reboot check use.
var (
	ecsNeed = need{what: "ECS (the agent)", viaInterface: []string{"ecs", "ecs-agent", "ecs-telemetry"}}
	ssmNeed = need{what: "SSM (Run Command)", viaInterface: []string{"ssm", "ssmmessages", "ec2messages"}}
)

// privateECR matches an image in a private ECR registry, and gives its
// registry's region.
var privateECR = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/`)

// imageNeed is what pulling image needs, in region (empty: taken to be the
// image's own).
func imageNeed(image, region string) need {
	what := fmt.Sprintf("the probe image's registry (%s)", strings.SplitN(image, "/", 2)[0])
	m := privateECR.FindStringSubmatch(image)
	switch {
	case strings.HasPrefix(image, "public.ecr.aws/"):
		return need{what: what + ": ECR Public, which no VPC endpoint serves"}
	case m == nil:
		return need{what: what + ": not ECR, which no VPC endpoint serves"}
	case region != "" && m[1] != region:
		return need{what: what + ": ECR in " + m[1] + ", not this region's endpoints"}
	}
	return need{what: what, viaInterface: []string{"ecr.api", "ecr.dkr"}, gateway: []string{"s3"}}
}

// missing says what of n the subnet does not reach: "" when it reaches it.
func (s Subnet) missing(n need) string {
	ok, why := s.Egress()
	if ok {
		return ""
	}
	if len(n.viaInterface) == 0 && len(n.gateway) == 0 {
		return fmt.Sprintf("%s: needs egress, and %s", n.what, why)
	}
	var lack []string
	for _, e := range n.viaInterface {
		if !slices.Contains(s.Interface, e) {
			lack = append(lack, e+" (interface, private DNS on)")
		}
	}
	for _, e := range n.gateway {
		if !slices.Contains(s.Gateway, e) {
			lack = append(lack, fmt.Sprintf("%s (gateway, in route table %s)", e, s.RouteTable))
		}
	}
	if len(lack) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %s; and VPC %s lacks the endpoints %s", n.what, why, s.VPC, strings.Join(lack, ", "))
}

// NetworkError says that the gate's subnet does not reach what the run
// needs. Nothing was launched.
type NetworkError struct {
	Subnet Subnet
	// Missing says, one line each, what the host could not reach.
	Missing []string
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("subnet %q (VPC %s, route table %s) does not reach what the gate needs:\n  - %s",
		e.Subnet.ID, e.Subnet.VPC, e.Subnet.RouteTable, strings.Join(e.Missing, "\n  - "))
}

// CheckNetwork says whether the subnet reaches the ECS and SSM endpoints
// and the registry of image: by egress (NAT gateway, or internet gateway
// and public IP), or by VPC endpoints. A *NetworkError names every path
// that is missing at once. It reads only.
func CheckNetwork(ctx context.Context, c NetworkAPI, subnet, image, region string) (Subnet, error) {
	s, err := describeSubnet(ctx, c, subnet)
	if err != nil {
		return s, err
	}
	var missing []string
	for _, n := range []need{ecsNeed, ssmNeed, imageNeed(image, region)} {
		if m := s.missing(n); m != "" {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return s, &NetworkError{Subnet: s, Missing: missing}
	}
	return s, nil
}

func describeSubnet(ctx context.Context, c NetworkAPI, id string) (Subnet, error) {
	s := Subnet{ID: id}
	sn, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
	if err != nil {
		return s, fmt.Errorf("subnet %q: %w", id, err)
	}
	if len(sn.Subnets) != 1 {
		return s, fmt.Errorf("subnet %q: %d subnets in the answer, want 1", id, len(sn.Subnets))
	}
	s.VPC = aws.ToString(sn.Subnets[0].VpcId)
	s.PublicIP = aws.ToBool(sn.Subnets[0].MapPublicIpOnLaunch)

	rt, err := routeTable(ctx, c, s)
	if err != nil {
		return s, err
	}
	s.RouteTable = aws.ToString(rt.RouteTableId)
	for _, r := range rt.Routes {
		if aws.ToString(r.DestinationCidrBlock) != "0.0.0.0/0" || r.State == ec2types.RouteStateBlackhole {
			continue
		}
		for _, t := range []*string{r.NatGatewayId, r.GatewayId, r.TransitGatewayId, r.NetworkInterfaceId, r.InstanceId, r.VpcPeeringConnectionId, r.CoreNetworkArn} {
			if aws.ToString(t) != "" {
				s.DefaultRoute = aws.ToString(t)
				break
			}
		}
	}

	in := &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{s.VPC}}}}
	for {
		out, err := c.DescribeVpcEndpoints(ctx, in)
		if err != nil {
			return s, fmt.Errorf("VPC %q endpoints: %w", s.VPC, err)
		}
		for _, e := range out.VpcEndpoints {
			if !strings.EqualFold(string(e.State), "available") {
				continue
			}
			name := shortService(aws.ToString(e.ServiceName))
			switch e.VpcEndpointType {
			case ec2types.VpcEndpointTypeInterface:
				if aws.ToBool(e.PrivateDnsEnabled) {
					s.Interface = append(s.Interface, name)
				}
			case ec2types.VpcEndpointTypeGateway:
				if slices.Contains(e.RouteTableIds, s.RouteTable) {
					s.Gateway = append(s.Gateway, name)
				}
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return s, nil
}

// routeTable is the table that routes s: the one associated with it, or
// else its VPC's main table.
func routeTable(ctx context.Context, c NetworkAPI, s Subnet) (ec2types.RouteTable, error) {
	for _, f := range [][]ec2types.Filter{
		{{Name: aws.String("association.subnet-id"), Values: []string{s.ID}}},
		{{Name: aws.String("vpc-id"), Values: []string{s.VPC}}, {Name: aws.String("association.main"), Values: []string{"true"}}},
	} {
		out, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: f})
		if err != nil {
			return ec2types.RouteTable{}, fmt.Errorf("subnet %q: route table: %w", s.ID, err)
		}
		if len(out.RouteTables) > 0 {
			return out.RouteTables[0], nil
		}
	}
	return ec2types.RouteTable{}, fmt.Errorf("subnet %q: no route table of its own, and VPC %q has no main one", s.ID, s.VPC)
}

// endpointService matches an endpoint service name,
// com.amazonaws.REGION.SERVICE; SERVICE is its short name.
var endpointService = regexp.MustCompile(`^(?:[a-z0-9.-]*\.)?com\.amazonaws\.[a-z0-9-]+\.(.+)$`)

func shortService(name string) string {
	if m := endpointService.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return name
}
