"""Prediction: the upload-event handler, input readers, reference databases, predictors and
result rendering."""
