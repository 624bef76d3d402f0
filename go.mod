module github.com/cisecs/cisecs

go 1.26.0

// packer-plugin-sdk needs HashiCorp's go-cty fork (packer-plugin-sdk issue 187).
replace github.com/zclconf/go-cty => github.com/nywilken/go-cty v1.13.3

require (
	github.com/containernetworking/plugins v1.6.2 // indirect
	github.com/hashicorp/packer-plugin-sdk v0.6.10 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
