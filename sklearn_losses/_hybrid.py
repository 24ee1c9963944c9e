# placeholder: replaced by issue 3
HybridLossMultiLabelClassifier = None
