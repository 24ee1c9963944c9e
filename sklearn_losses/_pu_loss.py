# placeholder: replaced by issue 4
PUMLCLoss = pumlc_mixup_penalty = None
