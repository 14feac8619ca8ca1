# The default policy's classification (docs/policy.md "How a profile is graded") in Rego, reading every
# number from data.airisk.policy: the seeds/policy/default.json document, loaded as is.
#
# score = sector + Σ capabilities + data + autonomy + (last scale step with
#         min_users ≤ users, else 0) + Σ vulnerable groups + Σ mitigations
# score grade = the last grade whose min_score ≤ score, else the first
# grade = max(score grade, grade of every floor that holds); a floor holds when every key of
#         its `when` holds; a list key holds when the profile's value (or any of its list
#         values) is in it; min_users holds when users ≥ it.
#
# Like airisk, the result is undefined (no answer) when the profile names something the
# policy does not define.
#
# A floor's keys are checked inline, an absent key made to hold by a default (the profile's
# own value, min_users 0, or the sentinel "*" that both lists then contain): the fastest
# form tried under regorus (rego/variants/classify-*.rego hold the others;
# `cargo run --release --example variants` checks they agree and times them).
package airisk.classify

import rego.v1

c := data.airisk.policy.classification

grades := data.airisk.policy.grades

rank[g.id] := i if some i, g in grades

caps := [c.capabilities[x].score | some x in input.capabilities]

groups := [c.vulnerable_groups[x].score | some x in input.vulnerable_groups]

mitigations := [c.mitigations[x].score | some x in input.mitigations]

steps := [s.score | some s in c.scale; s.min_users <= input.users]

default scale_points := 0

scale_points := steps[count(steps) - 1] if count(steps) > 0

score := ((((((c.sectors[input.sector].score + sum(caps)) + c.data[input.data].score) + c.autonomy[input.autonomy].score) + scale_points) + sum(groups)) + sum(mitigations)) if {
	count(caps) == count(input.capabilities)
	count(groups) == count(input.vulnerable_groups)
	count(mitigations) == count(input.mitigations)
}

score_ranks := [i | some i, g in grades; i > 0; g.min_score <= score]

default score_rank := 0

score_rank := max(score_ranks) if count(score_ranks) > 0

caps_star := array.concat(input.capabilities, ["*"])

groups_star := array.concat(input.vulnerable_groups, ["*"])

held := [f |
	some f in c.floors
	w := f.when
	input.sector in object.get(w, "sectors", [input.sector])
	input.data in object.get(w, "data", [input.data])
	input.autonomy in object.get(w, "autonomy", [input.autonomy])
	input.users >= object.get(w, "min_users", 0)
	count([x | some x in caps_star; x in object.get(w, "capabilities", ["*"])]) > 0
	count([x | some x in groups_star; x in object.get(w, "vulnerable_groups", ["*"])]) > 0
]

grade_rank := max({score_rank} | {rank[f.grade] | some f in held})

result := {
	"grade": grades[grade_rank].id,
	"grade_rank": grade_rank,
	"score": score,
	"score_rank": score_rank,
	"floors": [f.id | some f in held],
}
