package naming

// RegionShort returns the short code used in resource names for an Azure region that has
// availability zones. Regions missing here need an explicit `short` in the stack config.
func RegionShort(region string) (string, bool) {
	s, ok := map[string]string{
		"australiaeast":      "aue",
		"brazilsouth":        "brs",
		"canadacentral":      "cac",
		"centralindia":       "inc",
		"centralus":          "cus",
		"eastasia":           "ea",
		"eastus":             "eus",
		"eastus2":            "eus2",
		"francecentral":      "frc",
		"germanywestcentral": "gwc",
		"israelcentral":      "ilc",
		"italynorth":         "itn",
		"japaneast":          "jpe",
		"koreacentral":       "krc",
		"mexicocentral":      "mxc",
		"newzealandnorth":    "nzn",
		"northeurope":        "neu",
		"norwayeast":         "nwe",
		"polandcentral":      "plc",
		"qatarcentral":       "qac",
		"southafricanorth":   "san",
		"southcentralus":     "scus",
		"southeastasia":      "sea",
		"spaincentral":       "spc",
		"swedencentral":      "sdc",
		"switzerlandnorth":   "szn",
		"uaenorth":           "uaen",
		"uksouth":            "uks",
		"westeurope":         "weu",
		"westus2":            "wus2",
		"westus3":            "wus3",
	}[region]
	return s, ok
}
