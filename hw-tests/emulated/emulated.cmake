# The hw-emulated tier: hw tests run inside QEMU VMs that share an ivshmem device, bound to
# vfio-pci in the guests. Two runs: the pair (VMs a and b: the two-node tests) and the fabric
# (PBX_HW_FABRIC_VMS VMs, 4 by default, 2 to 4: the tests of more than two nodes, each run by
# every VM). CTest tests (labels hw, hw-emulated; run serially):
#   hw-emulated.kernel        fetches Debian's kernel once (cached in the build folder)
#   hw-emulated.vms           builds the initramfs, starts pbx-ivshmem-server, runs both VMs
#   hw-emulated.<name>        one per pair entry below: its verdict, read from the VMs' consoles
#   hw-emulated.fabric        the same for the fabric's VMs (their own server and shared memory)
#   hw-emulated.fabric.<name> one per fabric entry
# Missing qemu skips them (77) with the reason, unless CI=true or PBX_HW_EMULATED=require.

set(PBX_EMULATED_DIR ${CMAKE_CURRENT_LIST_DIR})
set(PBX_EMULATED_OUT ${CMAKE_BINARY_DIR}/hw-tests/emulated)
set_property(GLOBAL PROPERTY PBX_EMULATED_PLAN "")
set_property(GLOBAL PROPERTY PBX_EMULATED_TESTS "")
set_property(GLOBAL PROPERTY PBX_EMULATED_FABRIC_PLAN "")
set_property(GLOBAL PROPERTY PBX_EMULATED_FABRIC_TESTS "")

# pbx_add_emulated_test(<name> [VM_A <target> [args...]] [VM_B <target> [args...]])
#   One in-guest test: what VM a runs and what VM b runs, at the same point of their plans (each
#   VM runs its entries in the order they were added). Arguments are plain words.
function(pbx_add_emulated_test name)
  cmake_parse_arguments(E "" "" "VM_A;VM_B" ${ARGN})
  foreach(vm a b)
    string(TOUPPER "${vm}" VM)
    set(cmd ${E_VM_${VM}})
    if(cmd)
      list(POP_FRONT cmd target)
      list(JOIN cmd " " args)
      set_property(GLOBAL APPEND PROPERTY PBX_EMULATED_PLAN "${name} ${vm} $<TARGET_FILE:${target}> ${args}")
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY PBX_EMULATED_TESTS ${name})
endfunction()

# pbx_add_emulated_program(<target>): a program the in-guest tests start themselves (postboxd),
# put in both VMs at /opt/pbx/bin/<name> with its libraries, not run as a test.
function(pbx_add_emulated_program target)
  set_property(GLOBAL APPEND PROPERTY PBX_EMULATED_PLAN "program-${target} x $<TARGET_FILE:${target}>")
endfunction()

# pbx_add_emulated_fabric_test(<name> <target> [args...]): a test every VM of the fabric run
#   runs at once (each VM is a node: its IVPosition; PBX_HW_NODES says how many there are).
function(pbx_add_emulated_fabric_test name target)
  list(JOIN ARGN " " args)
  set_property(GLOBAL APPEND PROPERTY PBX_EMULATED_FABRIC_PLAN "${name} * $<TARGET_FILE:${target}> ${args}")
  set_property(GLOBAL APPEND PROPERTY PBX_EMULATED_FABRIC_TESTS ${name})
endfunction()

# Writes the plan and adds the CTest tests; call once, after every pbx_add_emulated_test().
function(pbx_emulated_tier_finish)
  if(NOT TARGET pbx-ivshmem-server)
    message(STATUS "hw-emulated tier off: it needs pbx-ivshmem-server (PBX_BUILD_TOOLS=ON)")
    return()
  endif()
  get_property(plan GLOBAL PROPERTY PBX_EMULATED_PLAN)
  get_property(tests GLOBAL PROPERTY PBX_EMULATED_TESTS)
  list(JOIN plan "\n" text)
  file(GENERATE OUTPUT ${PBX_EMULATED_OUT}/plan.txt CONTENT "${text}\n")

  set(common RUN_SERIAL TRUE RESOURCE_LOCK ntb_device SKIP_RETURN_CODE 77)
  add_test(NAME hw-emulated.kernel
    COMMAND ${PBX_EMULATED_DIR}/fetch-kernel.sh --cache ${PBX_EMULATED_OUT}/kernel)
  set_tests_properties(hw-emulated.kernel PROPERTIES ${common} TIMEOUT 600
    FIXTURES_SETUP pbx_hw_kernel)
  set_tests_properties(hw-emulated.kernel PROPERTIES LABELS "hw;hw-emulated")
  add_test(NAME hw-emulated.vms
    COMMAND ${PBX_EMULATED_DIR}/run-vms.sh --kernel ${PBX_EMULATED_OUT}/kernel/current
            --plan ${PBX_EMULATED_OUT}/plan.txt --server $<TARGET_FILE:pbx-ivshmem-server>
            --out ${PBX_EMULATED_OUT}/run)
  set_tests_properties(hw-emulated.vms PROPERTIES ${common} TIMEOUT 480
    FIXTURES_REQUIRED pbx_hw_kernel FIXTURES_SETUP pbx_hw_run)
  set_tests_properties(hw-emulated.vms PROPERTIES LABELS "hw;hw-emulated")
  foreach(t IN LISTS tests)
    add_test(NAME hw-emulated.${t}
      COMMAND ${PBX_EMULATED_DIR}/report.sh --run ${PBX_EMULATED_OUT}/run --test ${t})
    set_tests_properties(hw-emulated.${t} PROPERTIES ${common} TIMEOUT 60 FIXTURES_REQUIRED pbx_hw_run)
    set_tests_properties(hw-emulated.${t} PROPERTIES LABELS "hw;hw-emulated")
  endforeach()

  # The fabric: more than two VMs on one device (its size at test time: PBX_HW_FABRIC_VMS).
  get_property(fplan GLOBAL PROPERTY PBX_EMULATED_FABRIC_PLAN)
  get_property(ftests GLOBAL PROPERTY PBX_EMULATED_FABRIC_TESTS)
  if(NOT ftests)
    return()
  endif()
  list(JOIN fplan "\n" ftext)
  file(GENERATE OUTPUT ${PBX_EMULATED_OUT}/plan-fabric.txt CONTENT "${ftext}\n")
  add_test(NAME hw-emulated.fabric
    COMMAND ${PBX_EMULATED_DIR}/run-fabric.sh --kernel ${PBX_EMULATED_OUT}/kernel/current
            --plan ${PBX_EMULATED_OUT}/plan-fabric.txt --server $<TARGET_FILE:pbx-ivshmem-server>
            --out ${PBX_EMULATED_OUT}/run-fabric)
  set_tests_properties(hw-emulated.fabric PROPERTIES ${common} TIMEOUT 480
    FIXTURES_REQUIRED pbx_hw_kernel FIXTURES_SETUP pbx_hw_fabric)
  set_tests_properties(hw-emulated.fabric PROPERTIES LABELS "hw;hw-emulated")
  foreach(t IN LISTS ftests)
    add_test(NAME hw-emulated.fabric.${t}
      COMMAND ${PBX_EMULATED_DIR}/report.sh --run ${PBX_EMULATED_OUT}/run-fabric --test ${t})
    set_tests_properties(hw-emulated.fabric.${t} PROPERTIES ${common} TIMEOUT 60 FIXTURES_REQUIRED pbx_hw_fabric)
    set_tests_properties(hw-emulated.fabric.${t} PROPERTIES LABELS "hw;hw-emulated")
  endforeach()
endfunction()
