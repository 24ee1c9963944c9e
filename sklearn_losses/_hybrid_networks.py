# placeholder: replaced by issue 3
MultiLabelMLP = StackedViewBiLSTM = None
