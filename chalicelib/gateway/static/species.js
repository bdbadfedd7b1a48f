// PointFinder species keys the service accepts (design §12) and how they are written.
export const SPECIES = [
  ["other", "Other or unknown (no point mutations)"],
  ["escherichia_coli", "Escherichia coli"],
  ["klebsiella", "Klebsiella"],
  ["salmonella", "Salmonella"],
  ["campylobacter", "Campylobacter"],
  ["enterococcus_faecalis", "Enterococcus faecalis"],
  ["enterococcus_faecium", "Enterococcus faecium"],
  ["helicobacter_pylori", "Helicobacter pylori"],
  ["mycobacterium_tuberculosis", "Mycobacterium tuberculosis"],
  ["neisseria_gonorrhoeae", "Neisseria gonorrhoeae"],
  ["staphylococcus_aureus", "Staphylococcus aureus"],
  ["plasmodium_falciparum", "Plasmodium falciparum"],
];
