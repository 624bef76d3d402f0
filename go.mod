module github.com/cisecs/cisecs

go 1.26

// packer-plugin-sdk needs HashiCorp's go-cty fork (packer-plugin-sdk issue 187).
replace github.com/zclconf/go-cty => github.com/nywilken/go-cty v1.13.3
