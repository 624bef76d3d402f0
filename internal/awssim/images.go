package awssim

import (
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Account is the account id of the front's caller: the owner "self" names,
// and the owner of the images it publishes.
const Account = "000000000000"

// Image is an AMI in the front's catalogue. kumo has no DescribeImages, so
// the front keeps the AMIs: those Options.Images scripts and those AddImage
// adds. Fields left zero take the defaults New gives them.
type Image struct {
	// ID is the AMI id (ami- and 8 or 17 hex digits).
	ID string
	// Name is the AMI's name.
	Name string
	// Owner is the owner's account id; default Account.
	Owner string
	// OwnerAlias is the owner's alias (amazon, aws-marketplace), if any.
	OwnerAlias string
	// Architecture defaults to x86_64.
	Architecture string
	// ProductCode is the AWS Marketplace product code, if any.
	ProductCode string
	// State defaults to available.
	State string
	// VirtualizationType defaults to hvm, RootDeviceType to ebs.
	VirtualizationType, RootDeviceType string
	// Created is the AMI's creation date.
	Created time.Time
	// Deprecated is when the AMI is (or was) deprecated; zero for never.
	Deprecated time.Time
	// Tags are the AMI's tags.
	Tags map[string]string
	// RootDeviceName is the root volume's device name (/dev/xvda,
	// /dev/sda1); default /dev/xvda.
	RootDeviceName string
	// BlockDevices are the AMI's block device mappings; default one
	// 8 GiB gp3 volume from a snapshot, on RootDeviceName.
	BlockDevices []BlockDevice
	// Description and IMDSSupport ("v2.0": instances launched from it
	// require IMDSv2) are the AMI's attributes.
	Description, IMDSSupport string
	// HostState is what the Boot hook's Host said of the instance's disk
	// when CreateImage imaged it (a later boot can start from it).
	HostState string
}

// BlockDevice is one of an AMI's block device mappings: an EBS volume
// made from a snapshot.
type BlockDevice struct {
	DeviceName, SnapshotID, VolumeType string
	SizeGB                             int
	Encrypted, DeleteOnTermination     bool
}

func (img Image) withDefaults() Image {
	if img.Owner == "" {
		img.Owner = Account
	}
	if img.Architecture == "" {
		img.Architecture = "x86_64"
	}
	if img.State == "" {
		img.State = "available"
	}
	if img.VirtualizationType == "" {
		img.VirtualizationType = "hvm"
	}
	if img.RootDeviceType == "" {
		img.RootDeviceType = "ebs"
	}
	img.Tags = maps.Clone(img.Tags)
	if img.Tags == nil {
		img.Tags = map[string]string{}
	}
	if img.RootDeviceName == "" {
		img.RootDeviceName = "/dev/xvda"
	}
	img.BlockDevices = slices.Clone(img.BlockDevices)
	if len(img.BlockDevices) == 0 {
		img.BlockDevices = []BlockDevice{{DeviceName: img.RootDeviceName, SnapshotID: "snap-" + strings.TrimPrefix(img.ID, "ami-"), VolumeType: "gp3", SizeGB: 8, DeleteOnTermination: true}}
	}
	return img
}

// AddImage adds img to the catalogue, or replaces the image of its id.
func (s *Server) AddImage(img Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img = img.withDefaults()
	s.images[img.ID] = &img
}

// DeregisterImage removes the image id from the catalogue, as a
// deregistered AMI disappears; it reports whether the image was there.
func (s *Server) DeregisterImage(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.images[id]
	delete(s.images, id)
	return ok
}

// Image returns the catalogue's image id, with its tags as they are now.
func (s *Server) Image(id string) (Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[id]
	if !ok {
		return Image{}, false
	}
	out := *img
	out.Tags = maps.Clone(img.Tags)
	out.BlockDevices = slices.Clone(img.BlockDevices)
	return out, true
}

// imageFilters are the DescribeImages filters the front applies; any other
// is refused, so that a test cannot pass on a filter that is ignored.
var imageFilters = []string{"architecture", "image-id", "name", "owner-alias", "owner-id", "product-code", "root-device-type", "state", "tag-key", "virtualization-type"}

// describeImages answers from the catalogue as EC2 does: Owner.N (account
// ids or the aliases self, amazon, aws-marketplace) and ImageId.N select,
// every filter must match (name with * and ? wildcards), and unless
// IncludeDeprecated is true an image deprecated by now is left out, save
// the caller's own (EC2 always shows owners their deprecated AMIs). An
// ImageId that is not in the catalogue is InvalidAMIID.NotFound.
func (s *Server) describeImages(c *call) reply {
	ids := indexed(c.form, "ImageId")
	owners := indexed(c.form, "Owner")
	filters := map[string][]string{}
	for n := 1; ; n++ {
		name, ok := c.form[fmt.Sprintf("Filter.%d.Name", n)]
		if !ok {
			break
		}
		if !slices.Contains(imageFilters, name[0]) && !strings.HasPrefix(name[0], "tag:") {
			return clientError(queryProtocol, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name[0]))
		}
		filters[name[0]] = indexed(c.form, fmt.Sprintf("Filter.%d.Value", n))
	}
	if len(ids) > 0 && c.form.Get("MaxResults") != "" {
		return clientError(queryProtocol, "InvalidParameterCombination", "The parameter imageIdsSet cannot be used with the parameter maxResults")
	}
	includeDeprecated := c.form.Get("IncludeDeprecated") == "true"
	var missing []string
	for _, id := range ids {
		if _, ok := s.images[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return clientError(queryProtocol, "InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", strings.Join(missing, ", ")))
	}
	var out []xmlImage
	for _, id := range slices.Sorted(maps.Keys(s.images)) {
		img := s.images[id]
		switch {
		case len(ids) > 0 && !slices.Contains(ids, id):
			continue
		case len(owners) > 0 && !slices.ContainsFunc(owners, img.ownedBy):
			continue
		case !includeDeprecated && img.deprecatedAt(c.now) && img.Owner != Account:
			continue
		case !img.matches(filters):
			continue
		}
		out = append(out, img.xml())
	}
	type describeImagesResponse struct {
		XMLName   xml.Name   `xml:"DescribeImagesResponse"`
		NS        string     `xml:"xmlns,attr"`
		RequestID string     `xml:"requestId"`
		Images    []xmlImage `xml:"imagesSet>item"`
	}
	return xmlReply(describeImagesResponse{NS: ec2NS, RequestID: "awssim", Images: out})
}

// ownedBy says whether owner (an account id or an alias) owns img.
func (img *Image) ownedBy(owner string) bool {
	switch owner {
	case "self":
		return img.Owner == Account
	case img.Owner:
		return true
	}
	return img.OwnerAlias != "" && owner == img.OwnerAlias
}

// deprecatedAt says whether img is deprecated at now.
func (img *Image) deprecatedAt(now time.Time) bool {
	return !img.Deprecated.IsZero() && !now.Before(img.Deprecated)
}

func (img *Image) matches(filters map[string][]string) bool {
	for name, values := range filters {
		var ok bool
		switch name {
		case "architecture":
			ok = slices.Contains(values, img.Architecture)
		case "image-id":
			ok = slices.Contains(values, img.ID)
		case "name":
			ok = slices.ContainsFunc(values, func(p string) bool { return wildcard(p, img.Name) })
		case "owner-alias":
			ok = img.OwnerAlias != "" && slices.Contains(values, img.OwnerAlias)
		case "owner-id":
			ok = slices.Contains(values, img.Owner)
		case "product-code":
			ok = img.ProductCode != "" && slices.Contains(values, img.ProductCode)
		case "root-device-type":
			ok = slices.Contains(values, img.RootDeviceType)
		case "state":
			ok = slices.Contains(values, img.State)
		case "virtualization-type":
			ok = slices.Contains(values, img.VirtualizationType)
		case "tag-key":
			ok = slices.ContainsFunc(values, func(k string) bool { _, has := img.Tags[k]; return has })
		default: // tag:KEY
			v, has := img.Tags[strings.TrimPrefix(name, "tag:")]
			ok = has && slices.Contains(values, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// wildcard matches s against an EC2 filter pattern: * is any run of
// characters (slashes too), ? any one; nothing else is special.
func wildcard(pattern, s string) bool {
	p, r := []rune(pattern), []rune(s)
	// star and mark are where the last * was and what it had taken.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// XML shapes of DescribeImages.
type (
	xmlProductCode struct {
		Code string `xml:"productCode"`
		Type string `xml:"type"`
	}
	xmlImage struct {
		ImageID            string           `xml:"imageId"`
		Name               string           `xml:"name"`
		State              string           `xml:"imageState"`
		OwnerID            string           `xml:"imageOwnerId"`
		OwnerAlias         string           `xml:"imageOwnerAlias,omitempty"`
		Architecture       string           `xml:"architecture"`
		ImageType          string           `xml:"imageType"`
		VirtualizationType string           `xml:"virtualizationType"`
		RootDeviceType     string           `xml:"rootDeviceType"`
		CreationDate       string           `xml:"creationDate"`
		DeprecationTime    string           `xml:"deprecationTime,omitempty"`
		ProductCodes       []xmlProductCode `xml:"productCodes>item"`
		Tags               []xmlTag         `xml:"tagSet>item"`
		RootDeviceName     string           `xml:"rootDeviceName"`
		BlockDevices       []xmlImageDevice `xml:"blockDeviceMapping>item"`
		Description        string           `xml:"description,omitempty"`
		IMDSSupport        string           `xml:"imdsSupport,omitempty"`
	}
	xmlImageDevice struct {
		DeviceName string `xml:"deviceName"`
		EBS        struct {
			SnapshotID          string `xml:"snapshotId"`
			VolumeSize          int    `xml:"volumeSize"`
			DeleteOnTermination bool   `xml:"deleteOnTermination"`
			VolumeType          string `xml:"volumeType"`
			Encrypted           bool   `xml:"encrypted"`
		} `xml:"ebs"`
	}
)

func (img *Image) xml() xmlImage {
	x := xmlImage{
		ImageID:            img.ID,
		Name:               img.Name,
		State:              img.State,
		OwnerID:            img.Owner,
		OwnerAlias:         img.OwnerAlias,
		Architecture:       img.Architecture,
		ImageType:          "machine",
		VirtualizationType: img.VirtualizationType,
		RootDeviceType:     img.RootDeviceType,
		CreationDate:       img.Created.UTC().Format("2006-01-02T15:04:05.000Z"),
		RootDeviceName:     img.RootDeviceName,
		Description:        img.Description,
		IMDSSupport:        img.IMDSSupport,
	}
	for _, d := range img.BlockDevices {
		var xd xmlImageDevice
		xd.DeviceName = d.DeviceName
		xd.EBS.SnapshotID, xd.EBS.VolumeSize, xd.EBS.VolumeType = d.SnapshotID, d.SizeGB, d.VolumeType
		xd.EBS.DeleteOnTermination, xd.EBS.Encrypted = d.DeleteOnTermination, d.Encrypted
		x.BlockDevices = append(x.BlockDevices, xd)
	}
	if !img.Deprecated.IsZero() {
		x.DeprecationTime = img.Deprecated.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if img.ProductCode != "" {
		x.ProductCodes = []xmlProductCode{{Code: img.ProductCode, Type: "marketplace"}}
	}
	for _, k := range sortedKeys(img.Tags) {
		x.Tags = append(x.Tags, xmlTag{Key: k, Value: img.Tags[k]})
	}
	return x
}

// createTags tags the catalogue's images itself (kumo knows no AMI) and
// hands the other resources to kumo. An image that is not in the catalogue
// is InvalidAMIID.NotFound, and nothing is tagged.
func (s *Server) createTags(c *call) reply {
	ids := indexed(c.form, "ResourceId")
	tags := map[string]string{}
	var order []string
	for n := 1; ; n++ {
		k, ok := c.form[fmt.Sprintf("Tag.%d.Key", n)]
		if !ok {
			break
		}
		tags[k[0]] = first(c.form[fmt.Sprintf("Tag.%d.Value", n)])
		order = append(order, k[0])
	}
	if len(ids) == 0 || len(tags) == 0 {
		return clientError(queryProtocol, "MissingParameter", "CreateTags needs ResourceId.N and Tag.N")
	}
	if _, bad := s.tagENIs(ids, tags, c.now); bad != nil {
		return *bad
	}
	var amis, others []string
	for _, id := range ids {
		if strings.HasPrefix(id, "eni-") {
			continue // the front's (tagENIs)
		}
		if strings.HasPrefix(id, "ami-") {
			if _, ok := s.images[id]; !ok {
				return clientError(queryProtocol, "InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
			}
			amis = append(amis, id)
		} else {
			others = append(others, id)
		}
	}
	if len(others) > 0 {
		var kt []ec2types.Tag
		for _, k := range order {
			kt = append(kt, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		if _, err := s.kec2.CreateTags(c.r.Context(), &ec2.CreateTagsInput{Resources: others, Tags: kt}); err != nil {
			return sdkError(queryProtocol, err)
		}
	}
	for _, id := range amis {
		maps.Copy(s.images[id].Tags, tags)
	}
	type createTagsResponse struct {
		XMLName   xml.Name `xml:"CreateTagsResponse"`
		NS        string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Return    bool     `xml:"return"`
	}
	return xmlReply(createTagsResponse{NS: ec2NS, RequestID: "awssim", Return: true})
}
