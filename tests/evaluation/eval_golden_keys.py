"""Key names of the golden file's ``eval`` section, in our vocabulary (imported by the tests)."""

# Group rule -> shot_acc key, FP rule -> f_measure/counts suffix, our group name -> the reference's.
GOLDEN_RULE_KEY = {"oltr": "shot_acc_head", "strict": "shot_acc_pre_2019_08"}
GOLDEN_FP_SUFFIX = {"oltr": "head", "oltr2019": "pre_2020_01"}
GOLDEN_GROUP_KEY = {"many": "many", "medium": "median", "few": "few"}
