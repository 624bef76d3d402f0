package awssim

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Network is one subnet, in a VPC of its own, as DescribeSubnets,
// DescribeRouteTables and DescribeVpcEndpoints answer it: the route table
// that routes it (its own, or the VPC's main one) with the default route
// and the gateway endpoints' routes, and the VPC's endpoints. kumo plays
// no routes and no endpoints; the front answers these three from its
// Networks. PublicNetwork, NATNetwork, EndpointNetwork and IsolatedNetwork
// make the usual ones.
type Network struct {
	Subnet string
	// VPC defaults to "vpc-" and the subnet id's hex digits.
	VPC string
	// MapPublicIPOnLaunch gives instances launched in the subnet a public
	// IP address.
	MapPublicIPOnLaunch bool
	// MainTable says the subnet has no route table of its own: the VPC's
	// main table routes it.
	MainTable bool
	// DefaultRoute is the target of the table's 0.0.0.0/0 route (igw-...,
	// nat-...); empty: none, only the VPC's own range is routed.
	DefaultRoute string
	// Endpoints are the VPC's endpoints, by service short name (ecs,
	// ecr.dkr, ...; com.amazonaws.REGION. is added): s3 and dynamodb are
	// gateway endpoints in the table, the others interface endpoints with
	// private DNS on.
	Endpoints []string
}

// PublicNetwork is a public subnet: a default route to an internet
// gateway, and public IPs on launch.
func PublicNetwork(subnet string) Network {
	return Network{Subnet: subnet, MapPublicIPOnLaunch: true, DefaultRoute: "igw-0a1b2c3d4e5f60718"}
}

// NATNetwork is a private subnet with a default route to a NAT gateway.
func NATNetwork(subnet string) Network {
	return Network{Subnet: subnet, DefaultRoute: "nat-0a1b2c3d4e5f60718"}
}

// EndpointNetwork is a private subnet with no default route, routed by
// its VPC's main table, whose VPC has the given endpoints.
func EndpointNetwork(subnet string, endpoints ...string) Network {
	return Network{Subnet: subnet, MainTable: true, Endpoints: endpoints}
}

// IsolatedNetwork is a private subnet with no default route and no
// endpoints: it reaches nothing outside its VPC.
func IsolatedNetwork(subnet string) Network { return Network{Subnet: subnet} }

// GatewayEndpoints are the services whose VPC endpoints are gateways.
var gatewayEndpoints = []string{"s3", "dynamodb"}

func (n Network) withDefaults() Network {
	if n.VPC == "" {
		n.VPC = "vpc-" + strings.TrimPrefix(n.Subnet, "subnet-")
	}
	return n
}

func (n Network) routeTable() string { return "rtb-" + strings.TrimPrefix(n.VPC, "vpc-") }

func (n Network) endpointID(service string) string {
	return fmt.Sprintf("vpce-%s-%s", strings.TrimPrefix(n.VPC, "vpc-"), strings.ReplaceAll(service, ".", "-"))
}

// filters are a query request's Filter.N.Name and Filter.N.Value.M.
func filters(form url.Values) map[string][]string {
	out := map[string][]string{}
	for i := 1; ; i++ {
		name := form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			return out
		}
		for j := 1; ; j++ {
			v, ok := form[fmt.Sprintf("Filter.%d.Value.%d", i, j)]
			if !ok {
				break
			}
			out[name] = append(out[name], v...)
		}
	}
}

// listed are a query request's NAME.N values.
func listed(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v := form.Get(fmt.Sprintf("%s.%d", name, i))
		if v == "" {
			return out
		}
		out = append(out, v)
	}
}

// matches says whether v passes filter name (absent: any).
func matches(f map[string][]string, name, v string) bool {
	vs, ok := f[name]
	return !ok || slices.Contains(vs, v)
}

// describeSubnets answers from the Networks; s.mu is held.
func (s *Server) describeSubnets(c *call) reply {
	type item struct {
		ID        string `xml:"subnetId"`
		VPC       string `xml:"vpcId"`
		State     string `xml:"state"`
		MapPublic bool   `xml:"mapPublicIpOnLaunch"`
	}
	type out struct {
		XMLName xml.Name `xml:"DescribeSubnetsResponse"`
		NS      string   `xml:"xmlns,attr"`
		ReqID   string   `xml:"requestId"`
		Items   []item   `xml:"subnetSet>item"`
	}
	ids, f := listed(c.form, "SubnetId"), filters(c.form)
	var items []item
	for _, id := range ids {
		if !slices.ContainsFunc(s.networks, func(n Network) bool { return n.Subnet == id }) {
			return clientError(queryProtocol, "InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", id))
		}
	}
	for _, n := range s.networks {
		if (len(ids) == 0 || slices.Contains(ids, n.Subnet)) && matches(f, "vpc-id", n.VPC) && matches(f, "subnet-id", n.Subnet) {
			items = append(items, item{ID: n.Subnet, VPC: n.VPC, State: "available", MapPublic: n.MapPublicIPOnLaunch})
		}
	}
	return xmlReply(out{NS: ec2NS, ReqID: "awssim", Items: items})
}

// describeRouteTables answers from the Networks, by the filters
// association.subnet-id, association.main and vpc-id; s.mu is held.
func (s *Server) describeRouteTables(c *call) reply {
	type route struct {
		CIDR       string `xml:"destinationCidrBlock,omitempty"`
		PrefixList string `xml:"destinationPrefixListId,omitempty"`
		Gateway    string `xml:"gatewayId,omitempty"`
		NAT        string `xml:"natGatewayId,omitempty"`
		State      string `xml:"state"`
		Origin     string `xml:"origin"`
	}
	type assoc struct {
		ID     string `xml:"routeTableAssociationId"`
		Table  string `xml:"routeTableId"`
		Subnet string `xml:"subnetId,omitempty"`
		Main   bool   `xml:"main"`
	}
	type table struct {
		ID     string  `xml:"routeTableId"`
		VPC    string  `xml:"vpcId"`
		Routes []route `xml:"routeSet>item"`
		Assocs []assoc `xml:"associationSet>item"`
	}
	type out struct {
		XMLName xml.Name `xml:"DescribeRouteTablesResponse"`
		NS      string   `xml:"xmlns,attr"`
		ReqID   string   `xml:"requestId"`
		Tables  []table  `xml:"routeTableSet>item"`
	}
	f := filters(c.form)
	var tables []table
	for _, n := range s.networks {
		t := table{ID: n.routeTable(), VPC: n.VPC, Routes: []route{{CIDR: "10.0.0.0/16", Gateway: "local", State: "active", Origin: "CreateRouteTable"}}}
		a := assoc{ID: "rtbassoc-" + strings.TrimPrefix(n.VPC, "vpc-"), Table: t.ID, Subnet: n.Subnet}
		if n.MainTable {
			a.Subnet, a.Main = "", true
		}
		t.Assocs = []assoc{a}
		switch r := n.DefaultRoute; {
		case strings.HasPrefix(r, "nat-"):
			t.Routes = append(t.Routes, route{CIDR: "0.0.0.0/0", NAT: r, State: "active", Origin: "CreateRoute"})
		case r != "":
			t.Routes = append(t.Routes, route{CIDR: "0.0.0.0/0", Gateway: r, State: "active", Origin: "CreateRoute"})
		}
		for _, e := range n.Endpoints {
			if slices.Contains(gatewayEndpoints, e) {
				t.Routes = append(t.Routes, route{PrefixList: "pl-" + strings.ReplaceAll(e, ".", ""), Gateway: n.endpointID(e), State: "active", Origin: "CreateRoute"})
			}
		}
		main := "false"
		if a.Main {
			main = "true"
		}
		if matches(f, "vpc-id", n.VPC) && matches(f, "association.subnet-id", a.Subnet) && matches(f, "association.main", main) && matches(f, "route-table-id", t.ID) {
			tables = append(tables, t)
		}
	}
	return xmlReply(out{NS: ec2NS, ReqID: "awssim", Tables: tables})
}

// describeVpcEndpoints answers from the Networks, by the filters vpc-id
// and service-name; s.mu is held.
func (s *Server) describeVpcEndpoints(c *call) reply {
	type endpoint struct {
		ID         string   `xml:"vpcEndpointId"`
		Type       string   `xml:"vpcEndpointType"`
		VPC        string   `xml:"vpcId"`
		Service    string   `xml:"serviceName"`
		State      string   `xml:"state"`
		Tables     []string `xml:"routeTableIdSet>item,omitempty"`
		Subnets    []string `xml:"subnetIdSet>item,omitempty"`
		PrivateDNS bool     `xml:"privateDnsEnabled"`
	}
	type out struct {
		XMLName   xml.Name   `xml:"DescribeVpcEndpointsResponse"`
		NS        string     `xml:"xmlns,attr"`
		ReqID     string     `xml:"requestId"`
		Endpoints []endpoint `xml:"vpcEndpointSet>item"`
	}
	f := filters(c.form)
	var eps []endpoint
	for _, n := range s.networks {
		for _, e := range n.Endpoints {
			ep := endpoint{ID: n.endpointID(e), VPC: n.VPC, Service: "com.amazonaws.us-east-1." + e, State: "available"}
			if slices.Contains(gatewayEndpoints, e) {
				ep.Type, ep.Tables = "Gateway", []string{n.routeTable()}
			} else {
				ep.Type, ep.Subnets, ep.PrivateDNS = "Interface", []string{n.Subnet}, true
			}
			if matches(f, "vpc-id", ep.VPC) && matches(f, "service-name", ep.Service) {
				eps = append(eps, ep)
			}
		}
	}
	return xmlReply(out{NS: ec2NS, ReqID: "awssim", Endpoints: eps})
}

// What an instance reaches out to: ECS (its agent), or an image registry
// (registryOf).
const (
	reachECS       = "ecs"
	reachEgress    = "egress"        // a registry no VPC endpoint serves
	reachECRRegion = "ecr:us-east-1" // a private ECR registry of the front's region
)

// registryOf is what pulling image reaches: a private ECR registry in
// the front's region (us-east-1), which endpoints can serve, or else a
// registry only egress reaches (ECR Public, Docker Hub, another region's
// ECR).
func registryOf(image string) string {
	host, _, _ := strings.Cut(image, "/")
	if strings.HasSuffix(host, ".dkr.ecr.us-east-1.amazonaws.com") {
		return reachECRRegion
	}
	return reachEgress
}

// reaches says whether an instance in subnet reaches what: as AWS routes
// it, through a NAT gateway, an internet gateway with a public IP, or the
// VPC endpoints that serve it (ECS: ecs and ecs-agent; private ECR:
// ecr.api, ecr.dkr and the s3 gateway, where the layers are). A subnet
// not in the Networks reaches everything. s.mu is held.
func (s *Server) reaches(subnet, what string) bool {
	i := slices.IndexFunc(s.networks, func(n Network) bool { return n.Subnet == subnet })
	if i < 0 {
		return true
	}
	n := s.networks[i]
	switch r := n.DefaultRoute; {
	case strings.HasPrefix(r, "nat-"), strings.HasPrefix(r, "igw-") && n.MapPublicIPOnLaunch:
		return true
	}
	has := func(eps ...string) bool {
		for _, e := range eps {
			if !slices.Contains(n.Endpoints, e) {
				return false
			}
		}
		return true
	}
	switch what {
	case reachECS:
		return has("ecs", "ecs-agent")
	case reachECRRegion:
		return has("ecr.api", "ecr.dkr", "s3")
	}
	return false
}
