/** The preprocessing the model's weights need: recorded by export.py in the model file (JSON under
 *  "inceptionv4_metadata" in ONNX metadata_props / MindIR user_info), flags given explicitly winning. */
#ifndef INCEPTIONV4_INFER_MODEL_PREPROCESSING_H_
#define INCEPTIONV4_INFER_MODEL_PREPROCESSING_H_

#include "flags.h"
#include "preprocess.h"

/** The settings recorded in flags.model_path, each preprocessing flag given replacing its recorded value
 *  (one line on stdout where they differ, as src/inputs/preprocessing.py says it); without a complete record,
 *  flags.preprocessing (the flags over the original's defaults). Throws AppError if the record is
 *  unreadable or out of range. */
Preprocessing ModelPreprocessing(const Flags &flags);

#endif  // INCEPTIONV4_INFER_MODEL_PREPROCESSING_H_
