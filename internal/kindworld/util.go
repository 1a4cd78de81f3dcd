package kindworld

import (
	"sort"

	"helm.sh/helm/v3/pkg/releaseutil"
)

func sortStrings(s []string) { sort.Strings(s) }

func sortByManifestOrder(keys []string) { sort.Sort(releaseutilOrder(keys)) }

type releaseutilOrder = releaseutil.BySplitManifestsOrder
