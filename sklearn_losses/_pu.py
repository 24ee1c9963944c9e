# placeholder: replaced by issue 4
PUMultiLabelClassifier = None
