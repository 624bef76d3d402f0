package awssim

// The EC2 a Packer amazon-ebs build calls, played when Options.Boot is set:
// the account's VPCs and subnets, key pairs, security groups, volumes and
// snapshots, build instances that boot a host through the Boot hook, and
// the AMIs CreateImage and CopyImage make. Wire formats and error codes are
// EC2's (query protocol, XML answers); see packer_iam.go for IAM and
// packer_session.go for SSM Session Manager.

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The account's networks when Options.Boot is set: a default VPC with one
// default subnet (unless Options.NoDefaultVPC), and a VPC of its own with
// BuildSubnet, in both cases.
const (
	DefaultVPC       = "vpc-0d1e2f3a4b5c6d7e8"
	DefaultSubnet    = "subnet-0d1e2f3a4b5c6d7e8"
	BuildVPC         = "vpc-0b1a2c3d4e5f60718"
	BuildSubnet      = "subnet-0b1a2c3d4e5f60718"
	AvailabilityZone = "us-east-1a"
)

// Launch is what RunInstances asks of the Boot hook: an instance of Image.
type Launch struct {
	InstanceID   string
	Image        Image
	InstanceType string
	// KeyName is the launch's key pair, PublicKey its public key as an
	// authorized_keys line (what cloud-init installs for the image's
	// default user).
	KeyName, PublicKey string
	UserData           []byte
	// Tags are the instance's (TagSpecification of type instance).
	Tags     map[string]string
	Metadata MetadataOptions
	// Profile is the instance profile's name, if any.
	Profile string
}

// MetadataOptions are a launch's instance metadata options.
type MetadataOptions struct {
	HTTPEndpoint, HTTPTokens string
	HopLimit                 int
}

// Host is an instance's host, as the Boot hook made it.
type Host struct {
	// Dial connects to the host's port (SSM's port forwarding).
	Dial func(ctx context.Context, port int) (net.Conn, error)
	// Stop shuts the host down (StopInstances); nil: nothing to do.
	Stop func() error
	// Close terminates the host (TerminateInstances).
	Close func() error
	// State is what CreateImage records of the host's disk
	// (Image.HostState).
	State string
}

// EmptyVolume is a volume RunInstances made empty, as EC2 does for a block
// device mapping whose device name the AMI does not have.
type EmptyVolume struct {
	Instance, Device string
	SizeGB           int
}

// Build latencies: EC2 takes a moment for each; these are short, so that
// a rehearsal runs in seconds, but never zero, so that every waiter polls.
const (
	stopLatency     = 300 * time.Millisecond
	imageLatency    = 500 * time.Millisecond
	snapshotLatency = 300 * time.Millisecond
)

type buildState struct {
	instances map[string]*buildInstance
	volumes   map[string]*volume
	snapshots map[string]*snapshot
	keyPairs  map[string]*keyPair // by name
	groups    map[string]*securityGroup
	profiles  map[string]*instanceProfile
	roles     map[string]*iamRoleState
	sessions  map[string]*session
	made      map[string]bool // AMIs CreateImage and CopyImage made
	empty     []EmptyVolume
	ctx       context.Context // for hosts; never cancelled by a request
	// work is the hosts' booting, stopping and closing under way; closed
	// says closeHosts has run (a host that boots after it is closed at
	// once).
	work   sync.WaitGroup
	closed bool
}

type buildInstance struct {
	id, image, instanceType, subnet, vpc, keyName, profile, privateIP string
	groups                                                            []string
	tags                                                              map[string]string
	metadata                                                          MetadataOptions
	launched                                                          time.Time
	state, reason                                                     string
	host                                                              *Host
	devices                                                           []attachment
}

type attachment struct {
	device, volume      string
	deleteOnTermination bool
}

type volume struct {
	id, snapshot, volumeType, state, instance, device string
	size                                              int
	encrypted, deleteOnTermination                    bool
	tags                                              map[string]string
	created                                           time.Time
}

type snapshot struct {
	id, volume string
	size       int
	encrypted  bool
	created    time.Time
	tags       map[string]string
}

type keyPair struct {
	name, id, fingerprint, public string
	tags                          map[string]string
}

type securityGroup struct {
	id, name, description, vpc string
	tags                       map[string]string
}

// buildOf returns the build state, made on first use; s.mu is held.
func (s *Server) buildOf() *buildState {
	if s.build == nil {
		s.build = &buildState{
			instances: map[string]*buildInstance{},
			volumes:   map[string]*volume{},
			snapshots: map[string]*snapshot{},
			keyPairs:  map[string]*keyPair{},
			groups:    map[string]*securityGroup{},
			profiles:  map[string]*instanceProfile{},
			roles:     map[string]*iamRoleState{},
			sessions:  map[string]*session{},
			made:      map[string]bool{},
			ctx:       context.Background(),
		}
		s.defaultIAM()
	}
	return s.build
}

// answerBuild answers the operations of a Packer build when Options.Boot
// is set; false: not one of them (the front's other answers apply).
func (s *Server) answerBuild(c *call) (reply, bool) {
	if s.o.Boot == nil {
		return reply{}, false
	}
	b := s.buildOf()
	s.settle(b, c.now)
	switch c.op {
	case "DescribeRegions":
		return s.describeRegions(c), true
	case "DescribeVpcs":
		return s.describeVpcs(c), true
	case "DescribeSubnets":
		return s.describeBuildSubnets(c), true
	case "CreateKeyPair":
		return s.createKeyPair(c), true
	case "DeleteKeyPair":
		return s.deleteKeyPair(c), true
	case "DescribeKeyPairs":
		return s.describeKeyPairs(c), true
	case "DescribeSnapshots":
		return s.describeSnapshots(c), true
	case "CreateSecurityGroup":
		return s.createSecurityGroup(c), true
	case "DescribeSecurityGroups":
		return s.describeSecurityGroups(c), true
	case "DeleteSecurityGroup":
		return s.deleteSecurityGroup(c), true
	case "RunInstances":
		return s.runBuildInstance(c), true
	case "DescribeInstances":
		return s.describeBuildInstances(c), true
	case "DescribeInstanceStatus":
		return s.describeInstanceStatus(c), true
	case "StopInstances":
		return s.stopInstances(c), true
	case "TerminateInstances":
		return s.terminateBuildInstances(c), true
	case "DescribeVolumes":
		return s.describeVolumes(c), true
	case "DeleteVolume":
		return s.deleteVolume(c), true
	case "CreateImage":
		return s.createImage(c), true
	case "CopyImage":
		return s.copyImage(c), true
	case "DeregisterImage":
		return s.deregisterImage(c), true
	case "DeleteSnapshot":
		return s.deleteSnapshot(c), true
	case "ModifyImageAttribute":
		return s.modifyImageAttribute(c), true
	case "CreateTags":
		return s.createBuildTags(c)
	case "StartSession":
		return s.startSession(c), true
	case "TerminateSession":
		return s.terminateSession(c), true
	}
	return s.answerBuildIAM(c)
}

// settle moves what time moves: AMIs pending to available, snapshots
// pending to completed. s.mu is held.
func (s *Server) settle(b *buildState, now time.Time) {
	for id := range b.made {
		if img, ok := s.images[id]; ok && img.State == "pending" && !now.Before(img.Created.Add(imageLatency)) {
			img.State = "available"
		}
	}
}

// ec2Response is the envelope of an EC2 answer: name is the response
// element (RunInstancesResponse, ...), fields its content.
func ec2Response(name string, v any) reply {
	b, err := xml.Marshal(v)
	if err != nil {
		return errorReply(queryProtocol, http.StatusInternalServerError, "InternalError", err.Error())
	}
	body := fmt.Sprintf(`%s<%s xmlns="%s"><requestId>awssim</requestId>%s</%s>`, xml.Header, name, ec2NS, inner(b), name)
	return reply{status: http.StatusOK, ctype: "text/xml;charset=UTF-8", body: []byte(body)}
}

// inner strips the outer element of b.
func inner(b []byte) string {
	s := string(b)
	open := strings.Index(s, ">")
	close := strings.LastIndex(s, "</")
	if open < 0 || close < open {
		return ""
	}
	return s[open+1 : close]
}

type xmlReturn struct {
	XMLName xml.Name `xml:"r"`
	Return  bool     `xml:"return"`
}

func ec2Error(code, msg string) reply { return clientError(queryProtocol, code, msg) }

// dryRun answers a DryRun request that would have succeeded.
func dryRun() reply {
	return errorReply(queryProtocol, http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
}

func xmlTags(m map[string]string) []xmlTag {
	var out []xmlTag
	for _, k := range sortedKeys(m) {
		out = append(out, xmlTag{Key: k, Value: m[k]})
	}
	return out
}

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ---- regions and networks -------------------------------------------

func (s *Server) describeRegions(c *call) reply {
	type region struct {
		Name     string `xml:"regionName"`
		Endpoint string `xml:"regionEndpoint"`
		OptIn    string `xml:"optInStatus"`
	}
	type out struct {
		XMLName xml.Name `xml:"r"`
		Regions []region `xml:"regionInfo>item"`
	}
	var o out
	for _, r := range []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"} {
		o.Regions = append(o.Regions, region{r, "ec2." + r + ".amazonaws.com", "opt-in-not-required"})
	}
	return ec2Response("DescribeRegionsResponse", o)
}

type buildSubnet struct{ id, vpc, cidr string }

// subnets are the account's subnets.
func (s *Server) subnets() []buildSubnet {
	out := []buildSubnet{{BuildSubnet, BuildVPC, "10.20.1.0/24"}}
	if !s.o.NoDefaultVPC {
		out = append([]buildSubnet{{DefaultSubnet, DefaultVPC, "172.31.0.0/20"}}, out...)
	}
	return out
}

func (s *Server) subnet(id string) (buildSubnet, bool) {
	for _, n := range s.subnets() {
		if n.id == id {
			return n, true
		}
	}
	return buildSubnet{}, false
}

func (s *Server) describeVpcs(c *call) reply {
	type vpc struct {
		ID        string `xml:"vpcId"`
		State     string `xml:"state"`
		CIDR      string `xml:"cidrBlock"`
		IsDefault bool   `xml:"isDefault"`
		Owner     string `xml:"ownerId"`
	}
	type out struct {
		XMLName xml.Name `xml:"r"`
		Vpcs    []vpc    `xml:"vpcSet>item"`
	}
	ids := indexed(c.form, "VpcId")
	f := filters(c.form)
	var o out
	seen := map[string]bool{}
	for _, n := range s.subnets() {
		if seen[n.vpc] {
			continue
		}
		seen[n.vpc] = true
		v := vpc{ID: n.vpc, State: "available", CIDR: strings.Replace(n.cidr, "/20", "/16", 1), IsDefault: n.vpc == DefaultVPC, Owner: Account}
		if (len(ids) > 0 && !slices.Contains(ids, v.ID)) || !matches(f, "isDefault", strconv.FormatBool(v.IsDefault)) || !matches(f, "vpc-id", v.ID) {
			continue
		}
		o.Vpcs = append(o.Vpcs, v)
	}
	for _, id := range ids {
		if !seen[id] {
			return ec2Error("InvalidVpcID.NotFound", fmt.Sprintf("The vpc ID '%s' does not exist", id))
		}
	}
	return ec2Response("DescribeVpcsResponse", o)
}

func (s *Server) describeBuildSubnets(c *call) reply {
	type subnet struct {
		ID        string `xml:"subnetId"`
		State     string `xml:"state"`
		VPC       string `xml:"vpcId"`
		CIDR      string `xml:"cidrBlock"`
		Free      int    `xml:"availableIpAddressCount"`
		AZ        string `xml:"availabilityZone"`
		Default   bool   `xml:"defaultForAz"`
		PublicIPs bool   `xml:"mapPublicIpOnLaunch"`
		Owner     string `xml:"ownerId"`
	}
	type out struct {
		XMLName xml.Name `xml:"r"`
		Subnets []subnet `xml:"subnetSet>item"`
	}
	ids := indexed(c.form, "SubnetId")
	for _, id := range ids {
		if _, ok := s.subnet(id); !ok {
			return ec2Error("InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", id))
		}
	}
	f := filters(c.form)
	var o out
	for _, n := range s.subnets() {
		sn := subnet{ID: n.id, State: "available", VPC: n.vpc, CIDR: n.cidr, Free: 250, AZ: AvailabilityZone, Default: n.id == DefaultSubnet, PublicIPs: n.id == DefaultSubnet, Owner: Account}
		if (len(ids) > 0 && !slices.Contains(ids, n.id)) || !matches(f, "vpc-id", n.vpc) || !matches(f, "default-for-az", strconv.FormatBool(sn.Default)) || !matches(f, "state", "available") {
			continue
		}
		o.Subnets = append(o.Subnets, sn)
	}
	return ec2Response("DescribeSubnetsResponse", o)
}

// ---- key pairs ---------------------------------------------------------

// createKeyPair makes an RSA key pair, as EC2 does (ed25519 too is EC2's,
// but Packer asks for rsa by default): the private key as PEM, the public
// key kept for the launch.
func (s *Server) createKeyPair(c *call) reply {
	b := s.buildOf()
	name := c.form.Get("KeyName")
	if name == "" {
		return ec2Error("MissingParameter", "The request must contain the parameter KeyName")
	}
	if _, ok := b.keyPairs[name]; ok {
		return ec2Error("InvalidKeyPair.Duplicate", fmt.Sprintf("The keypair '%s' already exists.", name))
	}
	if t := c.form.Get("KeyType"); t != "" && t != "rsa" {
		return ec2Error("InvalidParameterValue", fmt.Sprintf("awssim makes rsa key pairs only, not %q", t))
	}
	if c.form.Get("DryRun") == "true" {
		return dryRun()
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return errorReply(queryProtocol, http.StatusInternalServerError, "InternalError", err.Error())
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})
	// EC2's fingerprint of a key it made is the SHA-1 of the PKCS#8
	// private key; an MD5 of the public key stands in, in the same form.
	sum := md5.Sum(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	var fp []string
	for _, x := range sum {
		fp = append(fp, fmt.Sprintf("%02x", x))
	}
	kp := &keyPair{name: name, id: s.nextID("key-"), fingerprint: strings.Join(fp, ":"), public: authorizedKey(&key.PublicKey, name), tags: tagSpecs(c.form)["key-pair"]}
	b.keyPairs[name] = kp
	type out struct {
		XMLName     xml.Name `xml:"r"`
		Name        string   `xml:"keyName"`
		Fingerprint string   `xml:"keyFingerprint"`
		Material    string   `xml:"keyMaterial"`
		ID          string   `xml:"keyPairId"`
		Tags        []xmlTag `xml:"tagSet>item"`
	}
	return ec2Response("CreateKeyPairResponse", out{Name: name, Fingerprint: kp.fingerprint, Material: string(pemKey), ID: kp.id, Tags: xmlTags(kp.tags)})
}

// authorizedKey is pub as an authorized_keys line (RFC 4253 ssh-rsa).
func authorizedKey(pub *rsa.PublicKey, comment string) string {
	var w []byte
	put := func(b []byte) {
		w = binary.BigEndian.AppendUint32(w, uint32(len(b)))
		w = append(w, b...)
	}
	mpint := func(n *big.Int) []byte {
		b := n.Bytes()
		if len(b) > 0 && b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	put([]byte("ssh-rsa"))
	put(mpint(big.NewInt(int64(pub.E))))
	put(mpint(pub.N))
	return "ssh-rsa " + base64.StdEncoding.EncodeToString(w) + " " + comment
}

// deleteKeyPair deletes by name or id; EC2 answers true for a key pair
// that does not exist, too.
func (s *Server) deleteKeyPair(c *call) reply {
	b := s.buildOf()
	name, id := c.form.Get("KeyName"), c.form.Get("KeyPairId")
	for n, kp := range b.keyPairs {
		if n == name || kp.id == id {
			delete(b.keyPairs, n)
		}
	}
	return ec2Response("DeleteKeyPairResponse", xmlReturn{Return: true})
}

// ---- security groups -----------------------------------------------------

func (s *Server) createSecurityGroup(c *call) reply {
	b := s.buildOf()
	name, vpc := c.form.Get("GroupName"), c.form.Get("VpcId")
	if vpc == "" {
		if s.o.NoDefaultVPC {
			return ec2Error("VPCIdNotSpecified", "No default VPC for this user")
		}
		vpc = DefaultVPC
	}
	known := false
	for _, n := range s.subnets() {
		known = known || n.vpc == vpc
	}
	if !known {
		return ec2Error("InvalidVpcID.NotFound", fmt.Sprintf("The vpc ID '%s' does not exist", vpc))
	}
	for _, g := range b.groups {
		if g.name == name && g.vpc == vpc {
			return ec2Error("InvalidGroup.Duplicate", fmt.Sprintf("The security group '%s' already exists for VPC '%s'", name, vpc))
		}
	}
	if c.form.Get("DryRun") == "true" {
		return dryRun()
	}
	g := &securityGroup{id: s.nextID("sg-"), name: name, description: c.form.Get("GroupDescription"), vpc: vpc, tags: tagSpecs(c.form)["security-group"]}
	b.groups[g.id] = g
	type out struct {
		XMLName xml.Name `xml:"r"`
		Return  bool     `xml:"return"`
		ID      string   `xml:"groupId"`
		Tags    []xmlTag `xml:"tagSet>item"`
	}
	return ec2Response("CreateSecurityGroupResponse", out{Return: true, ID: g.id, Tags: xmlTags(g.tags)})
}

func (s *Server) describeSecurityGroups(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "GroupId")
	type group struct {
		Owner       string   `xml:"ownerId"`
		ID          string   `xml:"groupId"`
		Name        string   `xml:"groupName"`
		Description string   `xml:"groupDescription"`
		VPC         string   `xml:"vpcId"`
		Tags        []xmlTag `xml:"tagSet>item"`
	}
	type out struct {
		XMLName xml.Name `xml:"r"`
		Groups  []group  `xml:"securityGroupInfo>item"`
	}
	var o out
	for _, id := range ids {
		if _, ok := b.groups[id]; !ok {
			return ec2Error("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id))
		}
	}
	fs := filterList(c.form)
	for _, id := range slices.Sorted(maps.Keys(b.groups)) {
		g := b.groups[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		pass, bad := matchFilters(fs, g.tags, func(f string) (string, bool) {
			switch f {
			case "group-id":
				return g.id, true
			case "group-name":
				return g.name, true
			case "vpc-id":
				return g.vpc, true
			}
			return "", false
		})
		if bad != nil {
			return *bad
		}
		if pass {
			o.Groups = append(o.Groups, group{Account, g.id, g.name, g.description, g.vpc, xmlTags(g.tags)})
		}
	}
	return ec2Response("DescribeSecurityGroupsResponse", o)
}

// deleteSecurityGroup refuses, as EC2 does, a group an instance that is
// not terminated still uses.
func (s *Server) deleteSecurityGroup(c *call) reply {
	b := s.buildOf()
	id := c.form.Get("GroupId")
	if _, ok := b.groups[id]; !ok {
		return ec2Error("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", id))
	}
	for _, i := range b.instances {
		if i.state != "terminated" && slices.Contains(i.groups, id) {
			return ec2Error("DependencyViolation", fmt.Sprintf("resource %s has a dependent object", id))
		}
	}
	delete(b.groups, id)
	return ec2Response("DeleteSecurityGroupResponse", xmlReturn{Return: true})
}

// ---- instances -----------------------------------------------------------

// blockDeviceMappings reads BlockDeviceMapping.N.
type launchDevice struct {
	device, snapshot, volumeType string
	size                         int
	encrypted, noDevice          bool
	deleteOnTermination          *bool
}

func launchDevices(form map[string][]string) []launchDevice {
	var out []launchDevice
	for n := 1; ; n++ {
		p := fmt.Sprintf("BlockDeviceMapping.%d.", n)
		dev, ok := form[p+"DeviceName"]
		if !ok {
			return out
		}
		d := launchDevice{device: dev[0], snapshot: first(form[p+"Ebs.SnapshotId"]), volumeType: first(form[p+"Ebs.VolumeType"])}
		d.size, _ = strconv.Atoi(first(form[p+"Ebs.VolumeSize"]))
		d.encrypted = first(form[p+"Ebs.Encrypted"]) == "true"
		_, d.noDevice = form[p+"NoDevice"]
		if v, ok := form[p+"Ebs.DeleteOnTermination"]; ok {
			del := v[0] == "true"
			d.deleteOnTermination = &del
		}
		out = append(out, d)
	}
}

// runBuildInstance launches one instance, as EC2 does: it refuses an image
// it does not have, an instance type of another architecture, a key pair,
// subnet, security group or instance profile that does not exist, a launch
// without a subnet in an account without a default VPC, and a volume
// smaller than its snapshot; a block device mapping for a device name the
// AMI does not have gets a new empty volume (see EmptyVolumes). DryRun
// checks all of that and answers DryRunOperation. The instance is pending
// until the Boot hook has booted its host.
func (s *Server) runBuildInstance(c *call) reply {
	b := s.buildOf()
	f := c.form
	if rep, ok := s.checkLaunch(f.Get("ImageId"), f.Get("InstanceType")); !ok {
		return rep
	}
	img := s.images[f.Get("ImageId")]
	if img.State != "available" {
		return ec2Error("InvalidAMIID.Unavailable", fmt.Sprintf("The image id '[%s]' is not available", img.ID))
	}
	keyName := f.Get("KeyName")
	var kp *keyPair
	if keyName != "" {
		if kp = b.keyPairs[keyName]; kp == nil {
			return ec2Error("InvalidKeyPair.NotFound", fmt.Sprintf("The key pair '%s' does not exist", keyName))
		}
	}
	subnetID := f.Get("SubnetId")
	if subnetID == "" {
		if s.o.NoDefaultVPC {
			return ec2Error("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
		}
		subnetID = DefaultSubnet
	}
	sn, ok := s.subnet(subnetID)
	if !ok {
		return ec2Error("InvalidSubnetID.NotFound", fmt.Sprintf("The subnet ID '%s' does not exist", subnetID))
	}
	groups := indexed(f, "SecurityGroupId")
	for _, g := range groups {
		sg, ok := b.groups[g]
		if !ok {
			return ec2Error("InvalidGroup.NotFound", fmt.Sprintf("The security group '%s' does not exist", g))
		}
		if sg.vpc != sn.vpc {
			return ec2Error("InvalidParameter", fmt.Sprintf("Security group %s and subnet %s belong to different networks.", g, sn.id))
		}
	}
	profile := f.Get("IamInstanceProfile.Name")
	if arn := f.Get("IamInstanceProfile.Arn"); arn != "" {
		profile = arn[strings.LastIndex(arn, "/")+1:]
	}
	if profile != "" {
		if _, ok := b.profiles[profile]; !ok {
			param, what := "iamInstanceProfile.name", "name"
			if f.Get("IamInstanceProfile.Arn") != "" {
				param, what = "iamInstanceProfile.arn", "ARN"
			}
			return ec2Error("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter %s is invalid. Invalid IAM Instance Profile %s", profile, param, what))
		}
		if rep, ok := s.checkProfile(f, c.now); !ok {
			return rep
		}
	}

	// The volumes: the AMI's, with the launch's changes, and new empty
	// ones for device names the AMI does not have.
	type plan struct {
		device, snapshot, volumeType string
		size                         int
		encrypted, del, empty        bool
	}
	var plans []plan
	launch := launchDevices(f)
	for _, d := range img.BlockDevices {
		p := plan{device: d.DeviceName, snapshot: d.SnapshotID, volumeType: d.VolumeType, size: d.SizeGB, encrypted: d.Encrypted, del: d.DeleteOnTermination}
		skip := false
		for _, l := range launch {
			if l.device != d.DeviceName {
				continue
			}
			if l.noDevice {
				skip = true
				break
			}
			if l.size > 0 {
				if l.size < d.SizeGB {
					return ec2Error("InvalidBlockDeviceMapping", fmt.Sprintf("Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", l.size, d.SnapshotID, d.SizeGB))
				}
				p.size = l.size
			}
			if l.volumeType != "" {
				p.volumeType = l.volumeType
			}
			p.encrypted = p.encrypted || l.encrypted
			if l.deleteOnTermination != nil {
				p.del = *l.deleteOnTermination
			}
		}
		if !skip {
			plans = append(plans, p)
		}
	}
	for _, l := range launch {
		if l.noDevice || slices.ContainsFunc(img.BlockDevices, func(d BlockDevice) bool { return d.DeviceName == l.device }) {
			continue
		}
		if l.size == 0 && l.snapshot == "" {
			return ec2Error("InvalidBlockDeviceMapping", fmt.Sprintf("The device '%s' has no snapshot or volume size specified", l.device))
		}
		p := plan{device: l.device, volumeType: l.volumeType, size: l.size, encrypted: l.encrypted, del: l.deleteOnTermination == nil || *l.deleteOnTermination, empty: l.snapshot == ""}
		if p.volumeType == "" {
			p.volumeType = "gp2"
		}
		plans = append(plans, p)
	}
	if f.Get("DryRun") == "true" {
		return dryRun()
	}

	i := &buildInstance{
		id: s.nextID("i-0a"), image: img.ID, instanceType: f.Get("InstanceType"), subnet: sn.id, vpc: sn.vpc,
		keyName: keyName, profile: profile, groups: groups, launched: c.now, state: "pending",
		tags: tagSpecs(f)["instance"],
	}
	i.privateIP = fmt.Sprintf("%s.%d", strings.Join(strings.Split(sn.cidr, ".")[:3], "."), 10+len(b.instances)%200)
	if len(groups) == 0 {
		i.groups = nil
	}
	i.metadata.HTTPEndpoint, i.metadata.HTTPTokens = f.Get("MetadataOptions.HttpEndpoint"), f.Get("MetadataOptions.HttpTokens")
	i.metadata.HopLimit, _ = strconv.Atoi(f.Get("MetadataOptions.HttpPutResponseHopLimit"))
	volTags := tagSpecs(f)["volume"]
	for _, p := range plans {
		v := &volume{id: s.nextID("vol-0a"), snapshot: p.snapshot, volumeType: p.volumeType, state: "in-use", instance: i.id, device: p.device,
			size: p.size, encrypted: p.encrypted, deleteOnTermination: p.del, tags: clone(volTags), created: c.now}
		b.volumes[v.id] = v
		i.devices = append(i.devices, attachment{p.device, v.id, p.del})
		if p.empty {
			b.empty = append(b.empty, EmptyVolume{Instance: i.id, Device: p.device, SizeGB: p.size})
		}
	}
	b.instances[i.id] = i
	ud, _ := base64.StdEncoding.DecodeString(f.Get("UserData"))
	l := Launch{InstanceID: i.id, Image: *img, InstanceType: i.instanceType, KeyName: keyName, UserData: ud, Tags: clone(i.tags), Metadata: i.metadata, Profile: profile}
	l.Image.Tags = clone(img.Tags)
	if kp != nil {
		l.PublicKey = kp.public
	}
	b.work.Add(1)
	go s.bootHost(b, i, l)

	type out struct {
		XMLName       xml.Name      `xml:"r"`
		ReservationID string        `xml:"reservationId"`
		OwnerID       string        `xml:"ownerId"`
		Instances     []xmlBuildVM  `xml:"instancesSet>item"`
		Groups        []xmlGroupRef `xml:"groupSet>item"`
	}
	return ec2Response("RunInstancesResponse", out{ReservationID: "r-" + strings.TrimPrefix(i.id, "i-"), OwnerID: Account, Instances: []xmlBuildVM{s.xmlBuildVM(i)}})
}

func clone(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// bootHost boots i's host through the Boot hook; the instance runs once it
// is up, or terminates if it fails (Server.InternalError, as EC2 says of a
// host that does not start).
func (s *Server) bootHost(b *buildState, i *buildInstance, l Launch) {
	defer b.work.Done()
	h, err := s.o.Boot(b.ctx, l)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil && b.closed:
		i.host = &h
		i.state = "terminated"
		if h.Close != nil {
			_ = h.Close()
		}
	case err != nil:
		i.state, i.reason = "terminated", "Server.InternalError: "+err.Error()
		s.releaseVolumes(b, i)
	case i.state == "shutting-down": // terminated while it booted
		i.host = &h
		s.terminateHost(b, i)
	default:
		i.host = &h
		i.state = "running"
	}
}

// terminateHost closes i's host and then shows it terminated. s.mu is held.
func (s *Server) terminateHost(b *buildState, i *buildInstance) {
	h := i.host
	s.closeSessions(b, i.id)
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		if h != nil && h.Close != nil {
			_ = h.Close()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		i.state = "terminated"
		s.releaseVolumes(b, i)
	}()
}

// releaseVolumes deletes i's volumes that delete on termination and
// detaches the others. s.mu is held.
func (s *Server) releaseVolumes(b *buildState, i *buildInstance) {
	for _, a := range i.devices {
		v, ok := b.volumes[a.volume]
		if !ok {
			continue
		}
		if a.deleteOnTermination {
			delete(b.volumes, a.volume)
		} else {
			v.state, v.instance, v.device = "available", "", ""
		}
	}
	i.devices = nil
}

// XML shapes of a build instance.
type (
	xmlGroupRef struct {
		ID   string `xml:"groupId"`
		Name string `xml:"groupName"`
	}
	xmlBuildDevice struct {
		DeviceName string `xml:"deviceName"`
		EBS        struct {
			VolumeID            string `xml:"volumeId"`
			Status              string `xml:"status"`
			AttachTime          string `xml:"attachTime"`
			DeleteOnTermination bool   `xml:"deleteOnTermination"`
		} `xml:"ebs"`
	}
	xmlBuildVM struct {
		InstanceID     string           `xml:"instanceId"`
		ImageID        string           `xml:"imageId"`
		State          xmlState         `xml:"instanceState"`
		PrivateDNS     string           `xml:"privateDnsName"`
		KeyName        string           `xml:"keyName,omitempty"`
		InstanceType   string           `xml:"instanceType"`
		LaunchTime     string           `xml:"launchTime"`
		AZ             string           `xml:"placement>availabilityZone"`
		Tenancy        string           `xml:"placement>tenancy"`
		SubnetID       string           `xml:"subnetId"`
		VPCID          string           `xml:"vpcId"`
		PrivateIP      string           `xml:"privateIpAddress"`
		Groups         []xmlGroupRef    `xml:"groupSet>item"`
		StateReason    *xmlReason       `xml:"stateReason,omitempty"`
		Architecture   string           `xml:"architecture"`
		RootDeviceType string           `xml:"rootDeviceType"`
		RootDeviceName string           `xml:"rootDeviceName"`
		Devices        []xmlBuildDevice `xml:"blockDeviceMapping>item"`
		Profile        *xmlProfileRef   `xml:"iamInstanceProfile,omitempty"`
		Tags           []xmlTag         `xml:"tagSet>item"`
		Metadata       struct {
			State    string `xml:"state"`
			Tokens   string `xml:"httpTokens"`
			HopLimit int    `xml:"httpPutResponseHopLimit"`
			Endpoint string `xml:"httpEndpoint"`
		} `xml:"metadataOptions"`
	}
	xmlReason struct {
		Code    string `xml:"code"`
		Message string `xml:"message"`
	}
	xmlProfileRef struct {
		Arn string `xml:"arn"`
		ID  string `xml:"id"`
	}
)

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func (s *Server) xmlBuildVM(i *buildInstance) xmlBuildVM {
	b := s.buildOf()
	x := xmlBuildVM{
		InstanceID: i.id, ImageID: i.image, State: xmlState{stateCodes[i.state], i.state},
		PrivateDNS: "ip-" + strings.ReplaceAll(i.privateIP, ".", "-") + ".ec2.internal", KeyName: i.keyName,
		InstanceType: i.instanceType, LaunchTime: iso(i.launched), AZ: AvailabilityZone, Tenancy: "default",
		SubnetID: i.subnet, VPCID: i.vpc, PrivateIP: i.privateIP, RootDeviceType: "ebs", Tags: xmlTags(i.tags),
	}
	if img, ok := s.images[i.image]; ok {
		x.Architecture, x.RootDeviceName = img.Architecture, img.RootDeviceName
	}
	if i.state == "terminated" {
		x.PrivateDNS, x.PrivateIP = "", ""
	}
	if i.reason != "" {
		code, msg, _ := strings.Cut(i.reason, ": ")
		x.StateReason = &xmlReason{code, msg}
	}
	for _, g := range i.groups {
		name := g
		if sg, ok := b.groups[g]; ok {
			name = sg.name
		}
		x.Groups = append(x.Groups, xmlGroupRef{g, name})
	}
	for _, a := range i.devices {
		var d xmlBuildDevice
		d.DeviceName = a.device
		d.EBS.VolumeID, d.EBS.Status, d.EBS.AttachTime, d.EBS.DeleteOnTermination = a.volume, "attached", iso(i.launched), a.deleteOnTermination
		x.Devices = append(x.Devices, d)
	}
	if p, ok := b.profiles[i.profile]; ok {
		x.Profile = &xmlProfileRef{p.arn(), p.id}
	}
	x.Metadata.State, x.Metadata.Tokens, x.Metadata.HopLimit, x.Metadata.Endpoint = "applied", i.metadata.HTTPTokens, i.metadata.HopLimit, i.metadata.HTTPEndpoint
	if x.Metadata.Tokens == "" {
		x.Metadata.Tokens = "optional"
	}
	if x.Metadata.Endpoint == "" {
		x.Metadata.Endpoint = "enabled"
	}
	if x.Metadata.HopLimit == 0 {
		x.Metadata.HopLimit = 1
	}
	return x
}

func (s *Server) describeBuildInstances(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "InstanceId")
	for _, id := range ids {
		if _, ok := b.instances[id]; !ok {
			return instanceNotFound(id)
		}
	}
	fs := filterList(c.form)
	type reservation struct {
		ID        string       `xml:"reservationId"`
		Owner     string       `xml:"ownerId"`
		Instances []xmlBuildVM `xml:"instancesSet>item"`
	}
	type out struct {
		XMLName      xml.Name      `xml:"r"`
		Reservations []reservation `xml:"reservationSet>item"`
	}
	var o out
	for _, id := range slices.Sorted(maps.Keys(b.instances)) {
		i := b.instances[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		pass, bad := matchFilters(fs, i.tags, func(f string) (string, bool) {
			switch f {
			case "instance-state-name":
				return i.state, true
			case "instance-id":
				return i.id, true
			case "subnet-id":
				return i.subnet, true
			case "vpc-id":
				return i.vpc, true
			}
			return "", false
		})
		if bad != nil {
			return *bad
		}
		if !pass {
			continue
		}
		x := s.xmlBuildVM(i)
		o.Reservations = append(o.Reservations, reservation{"r-" + strings.TrimPrefix(id, "i-"), Account, []xmlBuildVM{x}})
	}
	return ec2Response("DescribeInstancesResponse", o)
}

// describeInstanceStatus answers for running instances only, unless
// IncludeAllInstances is true, as EC2 does.
func (s *Server) describeInstanceStatus(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "InstanceId")
	all := c.form.Get("IncludeAllInstances") == "true"
	type status struct {
		ID       string   `xml:"instanceId"`
		AZ       string   `xml:"availabilityZone"`
		State    xmlState `xml:"instanceState"`
		System   string   `xml:"systemStatus>status"`
		Instance string   `xml:"instanceStatus>status"`
	}
	type out struct {
		XMLName  xml.Name `xml:"r"`
		Statuses []status `xml:"instanceStatusSet>item"`
	}
	var o out
	for _, id := range ids {
		if _, ok := b.instances[id]; !ok {
			return instanceNotFound(id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(b.instances)) {
		i := b.instances[id]
		if (len(ids) > 0 && !slices.Contains(ids, id)) || (!all && i.state != "running") {
			continue
		}
		o.Statuses = append(o.Statuses, status{id, AvailabilityZone, xmlState{stateCodes[i.state], i.state}, "ok", "ok"})
	}
	return ec2Response("DescribeInstanceStatusResponse", o)
}

type xmlChange struct {
	ID       string   `xml:"instanceId"`
	Current  xmlState `xml:"currentState"`
	Previous xmlState `xml:"previousState"`
}

// stopInstances stops running instances: stopping, the host's Stop, then
// stopped.
func (s *Server) stopInstances(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "InstanceId")
	for _, id := range ids {
		i, ok := b.instances[id]
		if !ok {
			return instanceNotFound(id)
		}
		if i.state != "running" && i.state != "stopping" && i.state != "stopped" {
			return ec2Error("IncorrectInstanceState", fmt.Sprintf("This instance '%s' is not in a state from which it can be stopped.", id))
		}
	}
	if c.form.Get("DryRun") == "true" {
		return dryRun()
	}
	type out struct {
		XMLName xml.Name    `xml:"r"`
		Changes []xmlChange `xml:"instancesSet>item"`
	}
	var o out
	for _, id := range ids {
		i := b.instances[id]
		prev := xmlState{stateCodes[i.state], i.state}
		if i.state == "running" {
			i.state = "stopping"
			s.closeSessions(b, id)
			h := i.host
			b.work.Add(1)
			go func() {
				defer b.work.Done()
				if h.Stop != nil {
					_ = h.Stop()
				}
				time.Sleep(stopLatency)
				s.mu.Lock()
				defer s.mu.Unlock()
				if i.state == "stopping" {
					i.state = "stopped"
				}
			}()
		}
		o.Changes = append(o.Changes, xmlChange{id, xmlState{stateCodes[i.state], i.state}, prev})
	}
	return ec2Response("StopInstancesResponse", o)
}

func (s *Server) terminateBuildInstances(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "InstanceId")
	for _, id := range ids {
		if _, ok := b.instances[id]; !ok {
			return instanceNotFound(id)
		}
	}
	if c.form.Get("DryRun") == "true" {
		return dryRun()
	}
	type out struct {
		XMLName xml.Name    `xml:"r"`
		Changes []xmlChange `xml:"instancesSet>item"`
	}
	var o out
	for _, id := range ids {
		i := b.instances[id]
		prev := xmlState{stateCodes[i.state], i.state}
		switch i.state {
		case "terminated", "shutting-down":
		case "pending":
			if i.host == nil {
				i.state = "shutting-down" // bootHost terminates it once booted
				break
			}
			fallthrough
		default:
			i.state = "shutting-down"
			s.terminateHost(b, i)
		}
		o.Changes = append(o.Changes, xmlChange{id, xmlState{stateCodes[i.state], i.state}, prev})
	}
	return ec2Response("TerminateInstancesResponse", o)
}

// ---- volumes ---------------------------------------------------------------

func (s *Server) describeVolumes(c *call) reply {
	b := s.buildOf()
	ids := indexed(c.form, "VolumeId")
	fs := filterList(c.form)
	type att struct {
		VolumeID string `xml:"volumeId"`
		Instance string `xml:"instanceId"`
		Device   string `xml:"device"`
		Status   string `xml:"status"`
		Delete   bool   `xml:"deleteOnTermination"`
	}
	type vol struct {
		ID         string   `xml:"volumeId"`
		Size       int      `xml:"size"`
		Snapshot   string   `xml:"snapshotId"`
		AZ         string   `xml:"availabilityZone"`
		Status     string   `xml:"status"`
		Created    string   `xml:"createTime"`
		Type       string   `xml:"volumeType"`
		Encrypted  bool     `xml:"encrypted"`
		Attachment []att    `xml:"attachmentSet>item"`
		Tags       []xmlTag `xml:"tagSet>item"`
	}
	type out struct {
		XMLName xml.Name `xml:"r"`
		Volumes []vol    `xml:"volumeSet>item"`
	}
	var o out
	for _, id := range slices.Sorted(maps.Keys(b.volumes)) {
		v := b.volumes[id]
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		pass, bad := matchFilters(fs, v.tags, func(f string) (string, bool) {
			switch f {
			case "volume-id":
				return v.id, true
			case "status":
				return v.state, true
			case "attachment.instance-id":
				return v.instance, true
			}
			return "", false
		})
		if bad != nil {
			return *bad
		}
		if !pass {
			continue
		}
		x := vol{ID: id, Size: v.size, Snapshot: v.snapshot, AZ: AvailabilityZone, Status: v.state, Created: iso(v.created), Type: v.volumeType, Encrypted: v.encrypted, Tags: xmlTags(v.tags)}
		if v.instance != "" {
			x.Attachment = []att{{id, v.instance, v.device, "attached", v.deleteOnTermination}}
		}
		o.Volumes = append(o.Volumes, x)
	}
	return ec2Response("DescribeVolumesResponse", o)
}

func (s *Server) deleteVolume(c *call) reply {
	b := s.buildOf()
	id := c.form.Get("VolumeId")
	v, ok := b.volumes[id]
	if !ok {
		return ec2Error("InvalidVolume.NotFound", fmt.Sprintf("The volume '%s' does not exist.", id))
	}
	if v.state == "in-use" {
		return ec2Error("VolumeInUse", fmt.Sprintf("Volume %s is currently attached to %s", id, v.instance))
	}
	delete(b.volumes, id)
	return ec2Response("DeleteVolumeResponse", xmlReturn{Return: true})
}

// ---- images and snapshots ---------------------------------------------------

// ownName says whether an AMI of the caller's already has name.
func (s *Server) ownName(name string) (string, bool) {
	for _, img := range s.images {
		if img.Owner == Account && img.Name == name {
			return img.ID, true
		}
	}
	return "", false
}

// createImage images a running or stopped instance: a snapshot of each of
// its volumes and a pending AMI, available a moment later. Like EC2, the
// AMI keeps the source AMI's product codes (an AWS Marketplace AMI's code
// follows every image made from it).
func (s *Server) createImage(c *call) reply {
	b := s.buildOf()
	id := c.form.Get("InstanceId")
	i, ok := b.instances[id]
	if !ok {
		return instanceNotFound(id)
	}
	if i.state != "running" && i.state != "stopped" {
		return ec2Error("InvalidParameterValue", fmt.Sprintf("Instance is not in state 'running' or 'stopped' (instance %s is %s)", id, i.state))
	}
	name := c.form.Get("Name")
	if other, dup := s.ownName(name); dup {
		return ec2Error("InvalidAMIName.Duplicate", fmt.Sprintf("AMI name %s is already in use by AMI %s", name, other))
	}
	if c.form.Get("DryRun") == "true" {
		return dryRun()
	}
	src := s.images[i.image]
	specs := tagSpecs(c.form)
	img := Image{ID: s.nextID("ami-0a"), Name: name, Description: c.form.Get("Description"), State: "pending", Created: c.now, Tags: specs["image"]}
	if src != nil {
		img.Architecture, img.RootDeviceName, img.ProductCode = src.Architecture, src.RootDeviceName, src.ProductCode
	}
	if i.host != nil {
		img.HostState = i.host.State
	}
	for _, a := range i.devices {
		v := b.volumes[a.volume]
		snap := &snapshot{id: s.nextID("snap-0a"), volume: v.id, size: v.size, encrypted: v.encrypted, created: c.now, tags: clone(specs["snapshot"])}
		b.snapshots[snap.id] = snap
		img.BlockDevices = append(img.BlockDevices, BlockDevice{DeviceName: a.device, SnapshotID: snap.id, VolumeType: v.volumeType, SizeGB: v.size, Encrypted: v.encrypted, DeleteOnTermination: a.deleteOnTermination})
	}
	img = img.withDefaults()
	s.images[img.ID] = &img
	b.made[img.ID] = true
	type out struct {
		XMLName xml.Name `xml:"r"`
		ID      string   `xml:"imageId"`
	}
	return ec2Response("CreateImageResponse", out{ID: img.ID})
}

// copyImage copies an available AMI within the front's region, with new
// snapshots, encrypted when asked (or when the source's are).
func (s *Server) copyImage(c *call) reply {
	b := s.buildOf()
	srcID := c.form.Get("SourceImageId")
	src, ok := s.images[srcID]
	if !ok {
		return ec2Error("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", srcID))
	}
	if src.State != "available" {
		return ec2Error("IncorrectState", fmt.Sprintf("Image %s is not in a valid state: %s", srcID, src.State))
	}
	if r := c.form.Get("SourceRegion"); r != "" && r != "us-east-1" {
		return ec2Error("InvalidParameterValue", fmt.Sprintf("awssim plays us-east-1 only, not source region %q", r))
	}
	name := c.form.Get("Name")
	if other, dup := s.ownName(name); dup {
		return ec2Error("InvalidAMIName.Duplicate", fmt.Sprintf("AMI name %s is already in use by AMI %s", name, other))
	}
	encrypt := c.form.Get("Encrypted") == "true"
	img := Image{ID: s.nextID("ami-0a"), Name: name, Description: c.form.Get("Description"), State: "pending", Created: c.now,
		Architecture: src.Architecture, RootDeviceName: src.RootDeviceName, ProductCode: src.ProductCode, HostState: src.HostState, IMDSSupport: src.IMDSSupport}
	if c.form.Get("CopyImageTags") == "true" {
		img.Tags = clone(src.Tags)
	}
	for _, d := range src.BlockDevices {
		old := b.snapshots[d.SnapshotID]
		snap := &snapshot{id: s.nextID("snap-0a"), size: d.SizeGB, encrypted: d.Encrypted || encrypt, created: c.now, tags: map[string]string{}}
		if old != nil && c.form.Get("CopyImageTags") == "true" {
			snap.tags = clone(old.tags)
		}
		b.snapshots[snap.id] = snap
		d.SnapshotID, d.Encrypted = snap.id, snap.encrypted
		img.BlockDevices = append(img.BlockDevices, d)
	}
	img = img.withDefaults()
	s.images[img.ID] = &img
	b.made[img.ID] = true
	type out struct {
		XMLName xml.Name `xml:"r"`
		ID      string   `xml:"imageId"`
	}
	return ec2Response("CopyImageResponse", out{ID: img.ID})
}

func (s *Server) deregisterImage(c *call) reply {
	id := c.form.Get("ImageId")
	img, ok := s.images[id]
	if !ok {
		return ec2Error("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
	}
	if img.Owner != Account {
		return ec2Error("AuthFailure", fmt.Sprintf("Not authorized for image:%s", id))
	}
	delete(s.images, id)
	delete(s.buildOf().made, id)
	return ec2Response("DeregisterImageResponse", xmlReturn{Return: true})
}

// deleteSnapshot refuses, as EC2 does, a snapshot a registered AMI uses.
func (s *Server) deleteSnapshot(c *call) reply {
	b := s.buildOf()
	id := c.form.Get("SnapshotId")
	if _, ok := b.snapshots[id]; !ok {
		return ec2Error("InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id))
	}
	for _, img := range s.images {
		for _, d := range img.BlockDevices {
			if d.SnapshotID == id {
				return ec2Error("InvalidSnapshot.InUse", fmt.Sprintf("The snapshot %s is currently in use by %s", id, img.ID))
			}
		}
	}
	delete(b.snapshots, id)
	return ec2Response("DeleteSnapshotResponse", xmlReturn{Return: true})
}

// modifyImageAttribute sets the attributes a build sets: the description
// and IMDS support (v2.0 only, as EC2 allows); launch permissions are
// recorded as accepted.
func (s *Server) modifyImageAttribute(c *call) reply {
	id := c.form.Get("ImageId")
	img, ok := s.images[id]
	if !ok {
		return ec2Error("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
	}
	if v := c.form.Get("Description.Value"); v != "" {
		img.Description = v
	}
	if v := c.form.Get("ImdsSupport.Value"); v != "" {
		if v != "v2.0" {
			return ec2Error("InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter imdsSupport is invalid.", v))
		}
		img.IMDSSupport = v
	}
	return ec2Response("ModifyImageAttributeResponse", xmlReturn{Return: true})
}

// createBuildTags tags the build's resources (instances, volumes,
// snapshots, AMIs, security groups); a request naming anything else is
// left to the front's other CreateTags.
func (s *Server) createBuildTags(c *call) (reply, bool) {
	b := s.buildOf()
	ids := indexed(c.form, "ResourceId")
	tags := map[string]string{}
	for n := 1; ; n++ {
		k, ok := c.form[fmt.Sprintf("Tag.%d.Key", n)]
		if !ok {
			break
		}
		tags[k[0]] = first(c.form[fmt.Sprintf("Tag.%d.Value", n)])
	}
	var targets []map[string]string
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "i-") && b.instances[id] != nil:
			targets = append(targets, b.instances[id].tags)
		case strings.HasPrefix(id, "vol-") && b.volumes[id] != nil:
			targets = append(targets, b.volumes[id].tags)
		case strings.HasPrefix(id, "snap-") && b.snapshots[id] != nil:
			targets = append(targets, b.snapshots[id].tags)
		case strings.HasPrefix(id, "sg-") && b.groups[id] != nil:
			targets = append(targets, b.groups[id].tags)
		case strings.HasPrefix(id, "ami-") && s.images[id] != nil:
			targets = append(targets, s.images[id].Tags)
		case strings.HasPrefix(id, "snap-"):
			return ec2Error("InvalidSnapshot.NotFound", fmt.Sprintf("The snapshot '%s' does not exist.", id)), true
		case strings.HasPrefix(id, "ami-"):
			return ec2Error("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id)), true
		default:
			return reply{}, false
		}
	}
	for _, t := range targets {
		for k, v := range tags {
			t[k] = v
		}
	}
	return ec2Response("CreateTagsResponse", xmlReturn{Return: true}), true
}

// ---- what a build left ------------------------------------------------------

// BuildLeftovers lists what builds left in the account: instances that are
// not terminated, volumes, security groups, key pairs, the IAM roles and
// instance profiles made (not the account's own, see
// BuildInstanceProfile), the AMIs CreateImage and CopyImage made, and
// their snapshots. Empty means nothing is left.
func (s *Server) BuildLeftovers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buildOf()
	s.settle(b, s.clock.Now())
	var left []string
	for id, i := range b.instances {
		if i.state != "terminated" {
			left = append(left, fmt.Sprintf("instance %s (%s)", id, i.state))
		}
	}
	for id, v := range b.volumes {
		left = append(left, fmt.Sprintf("volume %s (%s)", id, v.state))
	}
	for id, g := range b.groups {
		left = append(left, fmt.Sprintf("security group %s (%s)", id, g.name))
	}
	for name := range b.keyPairs {
		left = append(left, "key pair "+name)
	}
	for id := range b.made {
		left = append(left, fmt.Sprintf("AMI %s (%s)", id, s.images[id].Name))
	}
	for id := range b.snapshots {
		left = append(left, "snapshot "+id)
	}
	left = append(left, s.iamLeftovers(b)...)
	sort.Strings(left)
	return left
}

// EmptyVolumes are the volumes RunInstances made empty, for device names
// the AMI does not have: a launch mapping meant for the root volume that
// names the wrong device.
func (s *Server) EmptyVolumes() []EmptyVolume {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.buildOf().empty)
}

// MadeImages are the AMIs builds made that are still registered.
func (s *Server) MadeImages() []Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Image
	for _, id := range slices.Sorted(maps.Keys(s.buildOf().made)) {
		img := *s.images[id]
		img.Tags = clone(img.Tags)
		img.BlockDevices = slices.Clone(img.BlockDevices)
		out = append(out, img)
	}
	return out
}
